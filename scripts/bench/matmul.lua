-- matmul.lua — tensor.matmul vs raw cblas_sgemm at 512x512x512, for 1 and 2
-- threads (best of `reps` runs each). Raw numbers come from bin/bench_sgemm
-- (scripts/bench/sgemm_raw.c), which lets OpenBLAS thread itself; sanity
-- splits rows into fixed blocks on its own threads (deterministic).
--   bin/sanity run scripts/bench/matmul.lua [size=512] [reps=50]
local n, reps = cfg.size or 512, cfg.reps or 50
local a = tensor.rand({n, n}, {seed = 1})
local b = tensor.rand({n, n}, {seed = 2})
local bin = (arg[0]:match("^(.*)/scripts/bench/") or ".") .. "/bin/bench_sgemm"

local function sanity_gflops(threads)
  local p = io.popen(string.format("%s run %s/scripts/bench/matmul_worker.lua size=%d reps=%d --threads %d",
    (arg[0]:match("^(.*)/scripts/bench/") or ".") .. "/bin/sanity",
    arg[0]:match("^(.*)/scripts/bench/") or ".", n, reps, threads))
  local v = tonumber(p:read("a"))
  p:close()
  return v
end

print(string.format("%-8s %14s %14s %8s", "threads", "raw GFLOP/s", "sanity GFLOP/s", "ratio"))
for _, th in ipairs{1, 2} do
  local p = io.popen(string.format("%s %d %d %d", bin, n, th, reps))
  local raw = tonumber(p:read("a"))
  p:close()
  local ours = sanity_gflops(th)
  print(string.format("%-8d %14.1f %14.1f %8.3f", th, raw, ours, ours / raw))
end
local _ = a:matmul(b)
