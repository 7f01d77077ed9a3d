-- test_tensor.lua — the tensor module from Lua: creation, views, indexing,
-- arithmetic with broadcasting, reductions, matmul, and error messages.
local T = require "sanity.test"

T.case("creation and queries", function()
  local z = tensor.zeros(2, 3)
  T.eq(z:dim(), 2); T.eq(z:numel(), 6); T.eq(z:size(2), 3); T.eq(#z, 2)
  T.eq(tensor.zeros{4, 5}:size(1), 4)
  T.eq(tensor.ones(3):sum(), 3)
  T.eq(tensor.full({2, 2}, 7):sum(), 28)
  local a = tensor.arange(5)
  T.eq(a[1], 0); T.eq(a[5], 4)
  T.eq(tensor.arange(2, 8, 2):numel(), 3)
  local f = tensor.from{{1, 2, 3}, {4, 5, 6}}
  T.eq(f[2][3], 6)
  T.eq(table.concat(f:shape(), "x"), "2x3")
  T.eq(tensor.from(2.5):item(), 2.5)
end)

T.case("views share storage, clone does not", function()
  local t = tensor.arange(24):reshape(4, 2, 3)
  local v = t:narrow(2, 2)
  T.eq(v:size(1), 2); T.eq(v[1][1][1], 6)
  local r = t:view(-1)
  r[1] = 99
  T.eq(t[1][1][1], 99)
  local c = t:clone()
  c[1] = 0
  T.eq(t[1][1][1], 99)
  t[2] = 5              -- fill a row
  T.eq(t[2]:sum(), 30)
  t[3] = tensor.ones(2, 3)
  T.eq(t[3]:sum(), 6)
  T.eq(t:reshape(4, -1):size(2), 6)
end)

T.case("arithmetic and broadcasting", function()
  local a = tensor.from{{1, 2}, {3, 4}}
  local b = tensor.from{10, 20}
  T.near((a + b), tensor.from{{11, 22}, {13, 24}}, 0)
  T.near(a * 2, tensor.from{{2, 4}, {6, 8}}, 0)
  T.near(1 - a, tensor.from{{0, -1}, {-2, -3}}, 0)
  T.near(a / a, tensor.ones(2, 2), 0)
  T.near(-a, a * -1, 0)
  T.near(a ^ 2, a:square(), 0)
  local per_sample = tensor.from{{{2}}, {{3}}}     -- [2,1,1]
  local x = tensor.ones(2, 3, 4)
  T.eq((per_sample * x):sum(), 2 * 12 + 3 * 12)
  a:add_(1)
  T.eq(a:sum(), 14)
  T.near(tensor.from{-1, 4}:abs(), tensor.from{1, 4}, 0)
  T.near(tensor.from{4, 9}:sqrt(), tensor.from{2, 3}, 0)
  T.near(tensor.from{0}:exp(), tensor.ones(1), 0)
  T.near(tensor.from{1}:log(), tensor.zeros(1), 0)
  T.near(tensor.from{-5, 0.5, 5}:clamp(0, 1), tensor.from{0, 0.5, 1}, 0)
end)

T.case("reductions", function()
  local t = tensor.from{{1, 5, 3}, {4, 2, 6}}
  T.eq(t:sum(), 21); T.eq(t:mean(), 3.5); T.eq(t:max(), 6); T.eq(t:min(), 1)
  T.eq(t:argmax(), 5)                               -- 0-based flat index
  T.near(t:sum(1), tensor.from{5, 7, 9}, 0)
  T.near(t:max(2), tensor.from{5, 6}, 0)
  T.near(t:argmax(2), tensor.from{1, 2}, 0)         -- 0-based, like labels
  T.near(t:sum(2, true), tensor.from{{9}, {12}}, 0)
  T.near(t:sum(-1), tensor.from{9, 12}, 0)
  T.near(tensor.from{1, 2, 3, 4}:std(), 1.2909944, 1e-6)
  T.near(tensor.from{1, 2, 3, 4}:std(nil, false, {correction = 0}), 1.1180340, 1e-6)
end)

T.case("matmul and transpose", function()
  local a = tensor.from{{1, 2, 3}, {4, 5, 6}}
  local b = a:transpose()
  T.near(a:matmul(b), tensor.from{{14, 32}, {32, 77}}, 1e-5)
  T.near(tensor.matmul(b, a)[1], tensor.from{17, 22, 27}, 1e-5)
end)

T.case("random draws are keyed", function()
  local a = tensor.randn({100}, {seed = 1, stream = "x"})
  local b = tensor.randn({100}, {seed = 1, stream = "x"})
  local c = tensor.randn({100}, {seed = 2, stream = "x"})
  T.ok(a:equal(b)); T.ok(not a:equal(c))
  local u = tensor.rand({1000}, {seed = 3})
  T.ok(u:min() > 0 and u:max() < 1)
  -- unkeyed draws in one run differ from each other but repeat across runs
  T.ok(not tensor.rand{10}:equal(tensor.rand{10}))
  local p = rng.permutation(10, {seed = 4, stream = 1})
  T.eq(p:sum(), 45)
  T.eq(rng.integers(100, 3, 3):sum(), 300)
end)

T.case("tostring", function()
  T.ok(tostring(tensor.from{1, 2}):find("tensor%(%[1, 2%], shape=%[2%]%)"))
  local big = tostring(tensor.zeros(256, 1, 28, 28))
  T.ok(big:find("shape=[256, 1, 28, 28]", 1, true) and big:find("mean=0", 1, true))
end)

T.case("errors name what was expected", function()
  local a = tensor.zeros(2, 3)
  T.errors(function() return a:matmul(nil) end, "bad argument #1 to 'matmul'", "sanity.Tensor expected, got nil")
  T.errors(function() return tensor.matmul(a, nil) end, "bad argument #2 to 'matmul'", "sanity.Tensor expected, got nil")
  T.errors(function() return a:matmul(tensor.zeros(2, 3)) end, "[2, 3] @ [2, 3]")
  T.errors(function() return a + tensor.zeros(4) end, "[2, 3]", "[4]", "do not broadcast")
  T.errors(function() return a[3] end, "index 3 out of range for dimension 1 of size 2")
  T.errors(function() return a:reshape(4, 2) end, "cannot view [2, 3]")
  T.errors(function() return a + "x" end, "tensor or number expected")
  T.errors(function() return tensor.from{{1, 2}, {3}} end, "ragged")
  T.errors(function() return tensor.randn({2}, {sed = 1}) end, "unknown option 'sed'")
  T.errors(function() return a:narrow(2, 5) end, "out of range")
  local ok, err = pcall(function() return a:matmul(nil) end)
  T.ok(err:find("test_tensor.lua:%d+:"), "error carries the script position: " .. err)
end)

T.case("freed tensors raise, not crash", function()
  local t = tensor.zeros(3)
  t:free()
  T.errors(function() return t:sum() end, "tensor has been freed")
  T.eq(tostring(t), "tensor(freed)")
end)

T.done()
