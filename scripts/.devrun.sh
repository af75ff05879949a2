set -x
nvidia-smi --query-gpu=name --format=csv,noheader
python3 benchmarks/bench_gpu.py --skip-bench --checks quantized 2>&1 | tail -40
compute-sanitizer --tool memcheck python3 benchmarks/bench_gpu.py --skip-bench --checks quantized_int4 2>&1 | grep -E "ERROR SUMMARY|FAIL|Invalid" | head -20
python3 benchmarks/bench_gpu.py --checks none --bench quantized 2>&1 | tail -12
