-- Loads a few Fashion-MNIST images (used by tests that vary SANITY_DATA).
local x = data.fashion_mnist{n = 4}
print(x:size(1))
