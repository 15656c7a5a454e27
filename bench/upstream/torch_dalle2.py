#!/usr/bin/env python3
"""Times the *upstream* DALLE2-pytorch 1.1.0 networks in PyTorch on this machine, beside our model benches
(`pnpm bench decoder` / `pnpm bench prior`): the prior network step and the LAION v1.0.2-shaped decoder unet
forward, called as DiffusionPrior/Decoder.p_mean_variance call them, random init, f32, no_grad.

Nothing of upstream is in this repository. Point --src at a folder holding, side by side:
  dalle2_pytorch/            from lucidrains/DALLE2-pytorch at tag 1.1.0: dalle2_pytorch.py and vqgan_vae.py (the
                             package's __init__ and tokenizer are replaced below)
  deps/einops/               arogozhnikov/einops v0.4.1
  deps/einops_exts/          lucidrains/einops-exts 0.0.3
  deps/rotary_embedding_torch/  lucidrains/rotary-embedding-torch 0.1.5
Imports the timed code never calls (tqdm, torchvision, kornia, resize_right, x_clip, coca_pytorch,
vector_quantize_pytorch, the package __init__ and tokenizer) are stubbed below; any use raises.

  python3 bench/upstream/torch_dalle2.py --src DIR unet --size 64 --batch 2
  python3 bench/upstream/torch_dalle2.py --src DIR prior --batch 1   (OMP_WAIT_POLICY=PASSIVE helps batch 1)
Prints torch version, threads, BLAS, parameter count and the median of --runs timed runs after one warm-up,
with how many cores other processes used meanwhile (runs with > 0.15 are not "quiet").
"""
import sys, os, time, argparse, statistics, types

def install_stubs():
    """Dummy modules for imports that the timed code paths (DiffusionPriorNetwork.forward, Unet.forward,
    Decoder.__init__) never call. Any use raises."""
    def _mod(name, **attrs):
        m = types.ModuleType(name)
        for k, v in attrs.items():
            setattr(m, k, v)
        sys.modules[name] = m
        return m

    def _unused(name):
        def f(*a, **k):
            raise RuntimeError(f'stubbed {name} called')
        return f

    class _Dummy:  # used only for isinstance checks
        def __init__(self, *a, **k):
            raise RuntimeError('stub class instantiated')

    def _tqdm(it=None, *a, **k):
        return it

    tq = _mod('tqdm', tqdm=_tqdm)
    tq.auto = _mod('tqdm.auto', tqdm=_tqdm)
    tv = _mod('torchvision')
    tv.transforms = _mod('torchvision.transforms')
    k = _mod('kornia')
    k.filters = _mod('kornia.filters', gaussian_blur2d=_unused('gaussian_blur2d'))
    k.augmentation = _mod('kornia.augmentation')
    _mod('resize_right', resize=_unused('resize_right.resize'))
    _mod('x_clip', CLIP=type('CLIP', (), {}))
    _mod('coca_pytorch', CoCa=type('CoCa', (), {}))
    _mod('vector_quantize_pytorch', VectorQuantize=_Dummy)
    # The package itself: its __init__ imports the trainer, and its BPE tokenizer needs ftfy/regex; neither
    # is on the timed paths, so only the module object and a tokenizer placeholder are provided.
    pkg = _mod('dalle2_pytorch')
    pkg.__path__ = [os.path.join(SRC, 'dalle2_pytorch')]
    _mod('dalle2_pytorch.tokenizer', tokenizer=None)

import torch

p = argparse.ArgumentParser()
p.add_argument('--src', required=True, help='folder with dalle2_pytorch/ (1.1.0) and deps/ (see the docstring)')
p.add_argument('which', choices=['prior', 'unet'])
p.add_argument('--batch', type=int, default=1)
p.add_argument('--depth', type=int, default=12)
p.add_argument('--heads', type=int, default=12)
p.add_argument('--size', type=int, default=64)
p.add_argument('--runs', type=int, default=5)
p.add_argument('--threads', type=int, default=2)
a = p.parse_args()

if not os.path.isfile(os.path.join(a.src, 'dalle2_pytorch', 'dalle2_pytorch.py')):
    sys.exit(f'no dalle2_pytorch/dalle2_pytorch.py under {a.src}: see this script\'s docstring for what --src holds')
SRC = a.src
sys.path.insert(0, os.path.join(a.src, 'deps'))
sys.path.insert(0, a.src)
install_stubs()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

from dalle2_pytorch.dalle2_pytorch import DiffusionPriorNetwork, Unet, Decoder

def blas_libs():
    with open('/proc/self/maps') as f:
        return sorted({l.split()[-1] for l in f if 'blas' in l.lower() or 'lapack' in l.lower() or 'mkl' in l.lower() or 'gomp' in l.lower()})

def text_enc(b, n_real=12, L=77, d=768):
    te = torch.randn(b, L, d)
    te[:, n_real:] = 0.   # padding after 12 tokens -> mask derived by 1.1.0 code via any(!=0)
    return te

HZ = os.sysconf('SC_CLK_TCK')
def busy_s():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / HZ   # all-CPU busy time (excl. idle, iowait)

def timeit(fn):
    with torch.no_grad():
        t0 = time.perf_counter(); out = fn(); t1 = time.perf_counter()
        warm = (t1 - t0) * 1e3
        runs, cpus, others = [], [], []
        for _ in range(a.runs):
            b0 = busy_s(); c0 = time.process_time(); t0 = time.perf_counter(); out = fn(); t1 = time.perf_counter(); c1 = time.process_time(); b1 = busy_s()
            runs.append((t1 - t0) * 1e3); cpus.append((c1 - c0) * 1e3)
            others.append(((b1 - b0) - (c1 - c0)) / (t1 - t0))  # avg # of cores used by other processes during the run
    return out, warm, runs, cpus, others

nparams = lambda m: sum(p.numel() for p in m.parameters())

if a.which == 'prior':
    net = DiffusionPriorNetwork(
        dim=768, depth=a.depth, dim_head=64, heads=a.heads, num_timesteps=1000, max_text_len=77,
        num_time_embeds=1, num_image_embeds=1, num_text_embeds=1, ff_mult=4,
        normformer=True, rotary_emb=True, final_proj=True).eval()
    b = a.batch
    image_embed = torch.randn(b, 768)
    t = torch.full((b,), 500, dtype=torch.long)
    text_embed = torch.randn(b, 768)
    te = text_enc(b)
    # as DiffusionPrior.p_mean_variance calls it (cond_scale = 1 -> single forward)
    fn = lambda: net.forward_with_cond_scale(image_embed, t, cond_scale=1., text_embed=text_embed, text_encodings=te)
    desc = f'prior depth={a.depth} heads={a.heads} batch={b}'
else:
    unet0 = Unet(dim=320, cond_dim=512, image_embed_dim=768, text_embed_dim=768, cond_on_text_encodings=True,
                 channels=3, dim_mults=(1, 2, 3, 4), num_resnet_blocks=4, attn_heads=8, attn_dim_head=64,
                 sparse_attn=True, memory_efficient=True, self_attn=(False, True, True, True))
    # Decoder does unet.cast_model_parameters(lowres_cond=False, lowres_noise_cond=False,
    # cond_on_image_embeds=True, cond_on_text_encodings=True, channels=3, channels_out=6 (learned_variance))
    dec = Decoder(unet0, image_sizes=(64,), timesteps=1000, learned_variance=True)
    net = dec.unets[0].eval()
    assert net.channels_out == 6 and net.cond_on_image_embeds and net.cond_on_text_encodings and not net.lowres_cond
    # to_out is zero-initialised upstream (zero_init_); output values are zero but compute is the same
    b, s = a.batch, a.size
    x = torch.randn(b, 3, s, s)
    t = torch.full((b,), 500, dtype=torch.long)
    image_embed = torch.randn(b, 768)
    te = text_enc(b)
    # as Decoder.p_mean_variance calls it (cond_scale = 1 -> single forward; text mask derived inside Unet.forward)
    fn = lambda: net.forward_with_cond_scale(x, t, image_embed=image_embed, text_encodings=te, cond_scale=1.,
                                             lowres_cond_img=None, lowres_noise_level=None)
    desc = f'unet {s}x{s} batch={b} unet0_params={nparams(unet0)}'

out, warm, runs, cpus, others = timeit(fn)
print(f'torch {torch.__version__} threads={torch.get_num_threads()} blas_maps={blas_libs()}')
print(f'{desc} params={nparams(net)} out={tuple(out.shape)} finite={bool(torch.isfinite(out).all())}')
print(f'warmup_ms={warm:.1f} runs_ms={[round(r,1) for r in runs]} median_ms={statistics.median(runs):.1f}')
print(f'process_cpu_ms (user+sys, all threads)={[round(c,1) for c in cpus]} median={statistics.median(cpus):.1f}')
print(f'other_procs_cores_busy_during_run={[round(o,2) for o in others]}')
quiet = [r for r, o in zip(runs, others) if o < 0.15]
print(f'quiet_runs_ms(other<0.15 core)={[round(r,1) for r in quiet]} quiet_median_ms={statistics.median(quiet) if quiet else float("nan"):.1f}')
