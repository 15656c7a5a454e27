#!/usr/bin/env python3
"""PyTorch side of `pnpm bench compare`: times plain torch ops on the shapes our kernels run.

Protocol (line-delimited JSON, one long-lived process):
  - on start, one line: {"torch": version, "device": "cpu" | "cuda:NAME", "threads": n}
    (or {"error": "..."} and exit status 1 when torch cannot be imported);
  - then, for each request line on stdin, exactly one response line:
    {"ms": median, "reps": n, "device": ..., "threads": n} or {"error": "..."}.
    A request's "id", when present, is echoed back.

Requests ("dtype": "f32" | "f16", default f32; "quick": true for a short run):
  {"op": "matmul", "M", "K", "N"}                        a [M,K] @ b [K,N]
  {"op": "linear", "M", "in", "out"}                     F.linear(x [M,in], W [out,in], b [out])
  {"op": "conv2d", "N", "C", "H", "W", "Cout", "k", "pad", "stride"}   F.conv2d with bias
  {"op": "attention", "B", "H", "L", "D"}                softmax(q k^T * D^-0.5) v, plain matmul + softmax
  {"op": "group_norm_silu", "shape": [N,C,...], "groups"}  silu(F.group_norm(x, groups, w, b))
  {"op": "layer_norm", "rows", "d"}                      F.layer_norm over the last dim, with w and b

Inputs are built once per request (untimed), the op runs once to warm up, then repetitions are timed
(synchronising the device around each on CUDA) under the policy of bench/harness.ts repPolicy: at least 3,
until ~1 s is spent, at most 25; quick: 1..3 within 150 ms. The reply carries the median. Uses
one thread per CPU core (TORCH_THREADS overrides), like lavapipe's workers. Only torch is imported (no numpy).
"""
import json
import os
import sys
import time

POLICY = {"min": 3, "max": 25, "budget_ms": 1000.0}
QUICK_POLICY = {"min": 1, "max": 3, "budget_ms": 150.0}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


try:
    import torch
    import torch.nn.functional as F
except Exception as e:  # ImportError, or a broken install failing while loading
    emit({"error": "cannot import torch: %s" % e})
    sys.exit(1)


class RequestError(Exception):
    pass


def pick_device():
    if torch.cuda.is_available():
        return torch.device("cuda"), "cuda:" + torch.cuda.get_device_name(0)
    return torch.device("cpu"), "cpu"


DEVICE, DEVICE_NAME = pick_device()
# Same CPU as our side: lavapipe runs one worker per core, so torch gets every core too (Debian's build
# otherwise starts with 1 OpenMP thread here). TORCH_THREADS overrides.
if DEVICE.type == "cpu":
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS") or os.cpu_count() or 1))


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def median(xs):
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def field(req, name, kind=int):
    if name not in req:
        raise RequestError("%s: missing field %r" % (req.get("op"), name))
    v = req[name]
    if kind is int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise RequestError("%s: field %r must be an integer >= 0, got %r" % (req.get("op"), name, v))
    elif kind is list:
        if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v):
            raise RequestError("%s: field %r must be a list of positive integers, got %r" % (req.get("op"), name, v))
    return v


def dtype_of(req):
    name = req.get("dtype", "f32")
    if name == "f32":
        return torch.float32
    if name == "f16":
        if DEVICE.type == "cpu":
            raise RequestError("f16 on CPU not compared")
        return torch.float16
    raise RequestError("unknown dtype %r (expected f32 | f16)" % (name,))


def rand(shape, dtype):
    """Uniform [-1, 1) on the device."""
    return torch.rand(*shape, device=DEVICE, dtype=torch.float32).mul_(2).sub_(1).to(dtype)


def build(req):
    """Returns a closure running the op once on freshly built inputs."""
    op = req.get("op")
    dt = dtype_of(req)
    if op == "matmul":
        m, k, n = field(req, "M"), field(req, "K"), field(req, "N")
        a, b = rand([m, k], dt), rand([k, n], dt)
        return lambda: torch.matmul(a, b)
    if op == "linear":
        m, fin, fout = field(req, "M"), field(req, "in"), field(req, "out")
        x, w, b = rand([m, fin], dt), rand([fout, fin], dt), rand([fout], dt)
        return lambda: F.linear(x, w, b)
    if op == "conv2d":
        n, c, h, wd = field(req, "N"), field(req, "C"), field(req, "H"), field(req, "W")
        cout, k = field(req, "Cout"), field(req, "k")
        pad, stride = req.get("pad", 0), req.get("stride", 1)
        x, w, b = rand([n, c, h, wd], dt), rand([cout, c, k, k], dt), rand([cout], dt)
        return lambda: F.conv2d(x, w, b, stride=stride, padding=pad)
    if op == "attention":
        bsz, heads, L, d = field(req, "B"), field(req, "H"), field(req, "L"), field(req, "D")
        q, k, v = (rand([bsz, heads, L, d], dt) for _ in range(3))
        scale = d ** -0.5
        return lambda: torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale, dim=-1), v)
    if op == "group_norm_silu":
        shape, groups = field(req, "shape", list), field(req, "groups")
        if len(shape) < 2:
            raise RequestError("group_norm_silu: shape must be [N, C, ...]")
        x, w, b = rand(shape, dt), rand([shape[1]], dt), rand([shape[1]], dt)
        return lambda: F.silu(F.group_norm(x, groups, w, b, eps=1e-5))
    if op == "layer_norm":
        rows, d = field(req, "rows"), field(req, "d")
        x, w, b = rand([rows, d], dt), rand([d], dt), rand([d], dt)
        return lambda: F.layer_norm(x, (d,), w, b, eps=1e-5)
    raise RequestError("unknown op %r" % (op,))


def time_op(once, quick):
    policy = QUICK_POLICY if quick else POLICY
    sync()
    once()  # warm-up: allocator, kernel selection, cuBLAS/cuDNN handles
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < policy["max"] and (
        len(times) < policy["min"] or (time.perf_counter() - start) * 1000 < policy["budget_ms"]
    ):
        sync()
        t0 = time.perf_counter()
        once()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    return median(times), len(times)


def handle(line):
    try:
        req = json.loads(line)
    except ValueError as e:
        return {"error": "bad request JSON: %s" % e}
    if not isinstance(req, dict):
        return {"error": "request must be a JSON object"}
    reply = {}
    if "id" in req:
        reply["id"] = req["id"]
    try:
        with torch.inference_mode():
            once = build(req)
            ms, reps = time_op(once, bool(req.get("quick", False)))
        reply.update({"ms": ms, "reps": reps, "device": DEVICE_NAME, "threads": torch.get_num_threads()})
    except RequestError as e:
        reply["error"] = str(e)
    except Exception as e:  # torch errors (shape checks, out of memory): report, keep serving
        reply["error"] = ("%s: %s" % (type(e).__name__, e)).splitlines()[0][:200]
    finally:
        if DEVICE.type == "cuda":
            torch.cuda.empty_cache()
    return reply


def blas_library():
    """The BLAS library this process loaded (torch's CPU matmuls): Debian's torch links the generic
    reference BLAS unless the system alternative points at OpenBLAS (apt-get install libopenblas0-pthread),
    which is 10-15x faster here, so the comparison names it."""
    if DEVICE.type != "cpu":
        return "cuda"
    try:
        torch.mm(torch.ones(2, 2), torch.ones(2, 2))  # make sure the library is loaded
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        real = sorted({os.path.realpath(p) for p in paths})
        return ", ".join(real) if real else "unknown"
    except OSError:
        return "unknown"


def main():
    torch.manual_seed(0)
    emit({"torch": torch.__version__, "device": DEVICE_NAME, "threads": torch.get_num_threads(), "blas": blas_library()})
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if line.strip():
            emit(handle(line))


if __name__ == "__main__":
    main()
