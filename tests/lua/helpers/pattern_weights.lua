-- pattern_weights.lua — sets a model's parameters and batch-norm buffers to
-- the deterministic values of scripts/fixtures/make_nn_fixtures.py
-- (pattern_tensor, keyed by parameter name), so tests compare with PyTorch
-- fixtures that store no weights. Every step is exact or one float32
-- rounding, as in the Python and C (tests/unit/nn_test.c) versions.
--   local set_pattern = dofile(root .. "/tests/lua/helpers/pattern_weights.lua")
--   set_pattern(model)
local M32 = 0xFFFFFFFF

local function mix32(h)
  h = h & M32
  h = h ~ (h >> 16)
  h = (h * 0x85EBCA6B) & M32
  h = h ~ (h >> 13)
  h = (h * 0xC2B2AE35) & M32
  return h ~ (h >> 16)
end

local function fnv1a32(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & M32 end
  return h
end

local function f32(v) return (string.unpack("f", string.pack("f", v))) end

-- bound * (2u - 1), u = top 24 bits of a hash of (i, salt) / 2^24; plus `add`
local function pattern(n, salt, bound, add)
  local out, ms, b = {}, mix32(salt), f32(bound)
  for i = 0, n - 1 do
    local h = mix32(i * 0x9E3779B1 + ms)
    local v = f32(b * (2 * ((h >> 8) * 2.0 ^ -24) - 1))
    out[i + 1] = add and f32(v + add) or v
  end
  return out
end

local function value(name, shape)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  local salt = fnv1a32(name)
  if name:match("running_var$") then return pattern(n, salt, 0.5, 1.0) end
  if name:match("running_mean$") then return pattern(n, salt, 0.2) end
  if name:match("bias$") then return pattern(n, salt, 0.1) end
  if #shape == 1 then return pattern(n, salt, 0.2, 1.0) end -- batch-norm weight
  return pattern(n, salt, 1.0 / math.sqrt(n // shape[1]))
end

return function(model)
  local all = model:parameters()
  for _, b in ipairs(model:buffers()) do all[#all + 1] = b end
  for _, p in ipairs(all) do
    if not p.name:match("num_batches_tracked$") then
      local shape = p.value:shape()
      p.value:copy_(tensor.from(value(p.name, shape)):reshape(shape))
    end
  end
  return model
end
