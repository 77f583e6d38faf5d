"""A GPU kernel's category by its name, for the step breakdowns set side by side in
gpu-check.sh: cohort's (Nsight Compute) and PyTorch's (torch.profiler, gpt2_torch.py)."""


def kernel_category(name):
    """attention (FlashAttention's, cuDNN's and cohort's tensor-core kernels with their dO
    prologue), GEMM (cuBLAS's, cuBLASLt's and CUTLASS's, split-K reductions included), or
    other. Attention first: FlashAttention's template arguments name CUTLASS types."""
    n = name.lower()
    if any(s in n for s in ("flash", "fmha", "sdpa", "attention", "tc_forward", "tc_backward",
                            "prepare_dout")):
        return "attention"
    if any(s in n for s in ("gemm", "nvjet", "cutlass", "xmma", "splitk", "cublas")):
        return "GEMM"
    return "other"
