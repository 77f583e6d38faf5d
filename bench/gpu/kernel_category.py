"""A GPU kernel's category by its name, for the step breakdowns set side by side in
gpu-check.sh: cohort's (Nsight Compute) and PyTorch's (torch.profiler, gpt2_torch.py)."""


def kernel_category(name):
    """GEMM (cuBLAS's, cuBLASLt's and CUTLASS's, split-K reductions included), attention
    (FlashAttention's, cuDNN's and cohort's tensor-core kernels with their dO prologue), or
    other."""
    n = name.lower()
    if any(s in n for s in ("gemm", "nvjet", "cutlass", "xmma", "splitk", "cublas")):
        return "GEMM"
    if any(s in n for s in ("flash", "fmha", "attention", "tc_forward", "tc_backward",
                            "prepare_dout")):
        return "attention"
    return "other"
