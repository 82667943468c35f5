"""What installing PyPI's torch into a Keras 3 image costs, and whether a slim install without the CUDA wheels works.

bench/torch_cost.py reads the sizes from the index; this installs for real, in a container of a Keras 3 cell image
(default: keras-matrix/cell:keras3.15.1-jax0.10.2-py311-cpu, Python 3.11 in /opt/venv), one fresh container per
variant:

- full: `pip install torch==V` as a cell's torch layer does (every requirement, the nvidia-* CUDA wheels included);
- slim: `pip install --no-deps torch==V` plus those of torch's own requirements for Linux that are not CUDA wheels
  (names starting nvidia-, cuda-, triton), no others.

For each: the wheels are first downloaded (`pip download`, timed; their bytes summed), then installed from that
folder with no index (`pip install --no-index`, timed), the growth of /opt/venv measured with `du`, then
`import torch` and a two-batch Keras fit with KERAS_BACKEND=torch are tried, recording the exact error when one
fails. Times depend on the network and on whatever else runs on the machine: indicative only.

Needs the Docker engine, the image, and the package index reachable from containers (the host's CA bundle is
mounted for TLS-intercepting proxies). Writes bench/torch-install.json, keeping the results it holds for other
variants or versions.

  python bench/torch_install.py [--version 2.15.0] [--image IMAGE] [--variant full --variant slim]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "keras-matrix/cell:keras3.15.1-jax0.10.2-py311-cpu"
CUDA_PREFIXES = ("nvidia-", "cuda-", "triton")
MARKER = "TORCH-INSTALL-RESULT "

# Runs inside the container: python3 -c SCRIPT VERSION VARIANT. Standard library only.
SCRIPT = r'''
import json, os, subprocess, sys, time
version, variant, prefixes = sys.argv[1], sys.argv[2], tuple(sys.argv[3].split(","))
pip = ["/opt/venv/bin/python", "-m", "pip"]
out = {"variant": variant, "version": version}

def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0])

def run(cmd):
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    return done, round(time.monotonic() - started, 1)

before = du("/opt/venv")
if variant == "slim":
    done, seconds = run(pip + ["download", "--no-deps", "-d", "/w", "torch==" + version])
    import zipfile, email.parser
    wheel = [f for f in os.listdir("/w") if f.startswith("torch-")][0]
    with zipfile.ZipFile("/w/" + wheel) as z:
        meta = [n for n in z.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1][0]
        requires = email.parser.Parser().parsestr(z.read(meta).decode()).get_all("Requires-Dist") or []
    from pip._vendor.packaging.requirements import Requirement
    keep, dropped = [], []
    for line in requires:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        (dropped if req.name.lower().startswith(prefixes) else keep).append(str(req))
    out["kept_requirements"], out["dropped_requirements"] = keep, dropped
    done2, seconds2 = run(pip + ["download", "-d", "/w"] + keep)
    done = done if done.returncode else done2
    seconds += seconds2
    install = ["--no-deps"]
else:
    done, seconds = run(pip + ["download", "-d", "/w", "torch==" + version])
    install = []
out["download_seconds"] = seconds
out["download_ok"] = done.returncode == 0
if done.returncode:
    out["download_error"] = done.stderr[-2000:]
else:
    files = sorted(os.listdir("/w"))
    out["wheels"] = len(files)
    out["download_bytes"] = sum(os.path.getsize("/w/" + f) for f in files)
    out["cuda_wheels"] = sorted(f for f in files if f.lower().startswith(tuple(p.replace("-", "_") for p in prefixes)))
    done, seconds = run(pip + ["install", "--no-index", "--find-links", "/w"] + install + ["/w/" + f for f in files])
    out["install_seconds"] = seconds
    out["install_ok"] = done.returncode == 0
    if done.returncode:
        out["install_error"] = done.stderr[-2000:]
    out["installed_bytes"] = du("/opt/venv") - before
    check = "import torch; print(torch.__version__, torch.cuda.is_available())"
    done, seconds = run(["/opt/venv/bin/python", "-c", check])
    out["import_seconds"] = seconds
    out["import_ok"] = done.returncode == 0
    out["import_output"] = (done.stdout + done.stderr).strip()[-2000:]
    fit = ("import numpy as np, keras; x = np.random.rand(256, 28, 28).astype('float32'); "
           "y = np.random.randint(0, 10, 256); m = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), "
           "keras.layers.Dense(10, activation='softmax')]); m.compile('adam', 'sparse_categorical_crossentropy'); "
           "h = m.fit(x, y, batch_size=128, epochs=1, verbose=0); print(keras.backend.backend(), h.history['loss'][0])")
    env = dict(os.environ, KERAS_BACKEND="torch")
    started = time.monotonic()
    done = subprocess.run(["/opt/venv/bin/python", "-c", fit], capture_output=True, text=True, env=env)
    out["keras_fit_seconds"] = round(time.monotonic() - started, 1)
    out["keras_fit_ok"] = done.returncode == 0
    out["keras_fit_output"] = (done.stdout + done.stderr).strip()[-2000:]
print("TORCH-INSTALL-RESULT " + json.dumps(out))
'''


def measure(image: str, version: str, variant: str, ca_bundle: Optional[str]) -> Dict[str, Any]:
    cmd = ["docker", "run", "--rm", "-e", "PIP_DISABLE_PIP_VERSION_CHECK=1", "-e", "PIP_NO_CACHE_DIR=1"]
    if ca_bundle:
        cmd += ["-v", "%s:/etc/keras-matrix-ca.crt:ro" % ca_bundle, "-e", "PIP_CERT=/etc/keras-matrix-ca.crt"]
    cmd += [image, "/opt/venv/bin/python", "-c", SCRIPT, version, variant, ",".join(CUDA_PREFIXES)]
    print("$ %s" % " ".join(shlex.quote(part) for part in cmd[:-4] + ["SCRIPT", version, variant]), file=sys.stderr)
    done = subprocess.run(cmd, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            result: Dict[str, Any] = json.loads(line[len(MARKER):])
            return result
    return {"variant": variant, "version": version, "error": "no result (exit %d): %s"
            % (done.returncode, (done.stdout + done.stderr)[-2000:])}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default="2.15.0", help="torch release (default: 2.15.0)")
    parser.add_argument("--image", default=IMAGE, help="a Keras 3 cell image with /opt/venv (default: %(default)s)")
    parser.add_argument("--variant", action="append", choices=["full", "slim"],
                        help="repeatable (default: slim, then full)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "torch-install.json"))
    args = parser.parse_args(argv)
    ca_bundle = os.environ.get("PIP_CERT") or ("/etc/ssl/certs/ca-certificates.crt"
                                               if Path("/etc/ssl/certs/ca-certificates.crt").is_file() else None)
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    results = [dict(measure(args.image, args.version, variant, ca_bundle), measured_at=started.isoformat(),
                    image=args.image) for variant in args.variant or ["slim", "full"]]
    # Results of other variants or versions already in --out are kept (each says when and where it was measured).
    out = Path(args.out)
    kept = json.loads(out.read_text())["results"] if out.is_file() else []
    measured = {(r["variant"], r["version"]) for r in results}
    doc = {"kind": "keras-matrix-torch-install",
           "note": "times depend on the network and on other work on the 2-vCPU machine: indicative only",
           "results": [r for r in kept if (r["variant"], r["version"]) not in measured] + results}
    out.write_text(json.dumps(doc, indent=2) + "\n")
    for result in results:
        print(json.dumps({k: v for k, v in result.items() if not k.endswith("output")}))
        print("  import:", result.get("import_output", "")[-300:])
        print("  fit:", result.get("keras_fit_output", "")[-300:])
    print("wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
