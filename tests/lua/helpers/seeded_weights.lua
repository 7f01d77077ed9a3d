-- seeded_weights.lua — fills a model's parameters and batch-norm statistics
-- from tensor.rand keyed by (seed, parameter name), exactly as
-- scripts/fixtures/make_lrp_fixtures.py's seeded() draws them (its numpy
-- mirror of sanity's Philox), so tests and benchmarks compare against
-- PyTorch on the same weights without storing them. Every step is exact in
-- float32 (powers of two as scales).
--   local seeded = dofile("tests/lua/helpers/seeded_weights.lua")
--   seeded(m, 11)
return function(m, seed)
  local function u(v, name) return tensor.rand(v:shape(), {seed = seed, stream = name}) * 2 - 1 end
  for _, p in ipairs(m:parameters()) do
    local v, name = p.value, p.name
    if name:match("bias$") then
      v:copy_(u(v, name) * 0.125)
    elseif v:dim() == 1 then -- batch-norm weight
      v:copy_(u(v, name) * 0.25 + 1)
    else
      local fan = v:numel() // v:size(1)
      v:copy_(u(v, name) * 2.0 ^ -math.floor(math.log(math.sqrt(fan), 2) + 0.5))
    end
  end
  for _, b in ipairs(m:buffers()) do
    if b.name:match("running_mean$") then
      b.value:copy_(u(b.value, b.name) * 0.25)
    elseif b.name:match("running_var$") then
      b.value:copy_(u(b.value, b.name) * 0.5 + 1)
    end
  end
  return m
end
