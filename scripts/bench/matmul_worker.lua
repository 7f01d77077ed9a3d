-- matmul_worker.lua — prints the best GFLOP/s of tensor.matmul at cfg.size
-- with the run's --threads (called by matmul.lua, one process per count).
local n, reps = cfg.size or 512, cfg.reps or 50
local a = tensor.rand({n, n}, {seed = 1})
local b = tensor.rand({n, n}, {seed = 2})
local best = math.huge
local _ = a:matmul(b)
for _ = 1, reps do
  local t = sanity.clock()
  local c = a:matmul(b)
  t = sanity.clock() - t
  if t < best then best = t end
  c:free()
end
print(string.format("%.2f", 2 * n ^ 3 / best / 1e9))
