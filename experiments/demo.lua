-- demo.lua — the end-to-end job until the MPRT protocol lands: a nearest
-- class-mean classifier on Fashion-MNIST, all numbers in C (matmul on
-- OpenBLAS), printing per-class accuracy and writing it to the results file.
--   bin/sanity run experiments/demo.lua --out results/demo.h5 [n_train=10000] [n_test=2000]
local n_train, n_test = cfg.n_train or 10000, cfg.n_test or 2000
local t0 = sanity.clock()
local xtr, ytr = data.fashion_mnist{split = "train", n = n_train, balanced = true}
local xte, yte = data.fashion_mnist{split = "test", n = n_test}
xtr, xte = xtr:reshape(n_train, 784), xte:reshape(n_test, 784)

-- one-hot labels [n_train,10] -> class means [10,784] = onehot^T x / counts
local onehot = tensor.zeros(n_train, 10)
for i = 1, n_train do onehot[i][ytr[i] + 1] = 1 end
local counts = onehot:sum(1):reshape(10, 1)
local means = onehot:transpose():matmul(xtr) / counts

-- squared distance up to a per-row constant: |m|^2 - 2 x.m
local scores = xte:matmul(means:transpose()) * -2 + (means * means):sum(2):reshape(1, 10)
local pred = (-scores):argmax(2)

print(string.format("%-12s %8s %8s", "class", "n", "accuracy"))
local total, acc = 0, {}
for c = 0, 9 do
  local n, hit = 0, 0
  for i = 1, n_test do
    if yte[i] == c then
      n = n + 1
      if pred[i] == c then hit = hit + 1 end
    end
  end
  total = total + hit
  acc[c + 1] = hit / n
  print(string.format("%-12s %8d %8.3f", data.fashion_mnist_classes[c + 1], n, hit / n))
end
print(string.format("%-12s %8d %8.3f   (%.2f s)", "all", n_test, total / n_test, sanity.clock() - t0))

local f = results.open()
f:write("nearest_mean/accuracy", acc, {dims = {"class"}, coords = {class = data.fashion_mnist_classes}})
f:write("nearest_mean/class_means", means:reshape(10, 1, 28, 28), {dims = {"class", "channel", "y", "x"}})
f:attrs(nil, {n_train = n_train, n_test = n_test, overall_accuracy = total / n_test})
