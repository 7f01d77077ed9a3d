-- test_data.lua — data.fashion_mnist: shapes, ranges, labels, selection
-- options, and clear errors for bad options and missing files.
local T = require "sanity.test"

T.case("test split basics", function()
  local x, y = data.fashion_mnist{split = "test", n = 64}
  T.eq(table.concat(x:shape(), ","), "64,1,28,28")
  T.eq(y:numel(), 64)
  T.ok(x:min() >= 0 and x:max() <= 1)
  -- first test labels of Fashion-MNIST (t10k-labels-idx1-ubyte)
  T.eq(y[1], 9); T.eq(y[2], 2); T.eq(y[3], 1)
  T.eq(#data.fashion_mnist_classes, 10)
  T.eq(data.fashion_mnist_classes[10], "Ankle boot")
end)

T.case("offset, classes, balanced", function()
  local _, y_all = data.fashion_mnist{n = 20}
  local _, y_off = data.fashion_mnist{n = 10, offset = 10}
  T.ok(y_off:equal(y_all:narrow(11, 10)))
  local _, y_cls = data.fashion_mnist{n = 50, classes = {3, 7}}
  for i = 1, 50 do T.ok(y_cls[i] == 3 or y_cls[i] == 7) end
  local _, y_bal = data.fashion_mnist{split = "train", n = 100, balanced = true}
  local counts = {}
  for i = 1, 100 do counts[y_bal[i]] = (counts[y_bal[i]] or 0) + 1 end
  for c = 0, 9 do T.eq(counts[c], 10) end
end)

T.case("bad options give clear errors", function()
  T.errors(function() data.fashion_mnist{split = "val"} end, "option 'split'", "train, test")
  T.errors(function() data.fashion_mnist{n = 20000} end, "20000 samples requested but only 10000")
  T.errors(function() data.fashion_mnist{classes = {10}} end, "0-9")
  T.errors(function() data.fashion_mnist{nn = 3} end, "unknown option 'nn'")
  T.errors(function() data.fashion_mnist{n = "5"} end, "integer expected, got string")
end)

T.case("missing data folder names the path", function()
  local dir = os.tmpname()
  os.remove(dir)
  local status, _, err = T.sanity("run tests/lua/helpers/load_fmnist.lua", "SANITY_DATA=" .. dir)
  T.eq(status, 1)
  T.ok(err:find(dir, 1, true), err)
  T.ok(err:find("dataset-fashion-mnist", 1, true), err)
end)

T.done()
