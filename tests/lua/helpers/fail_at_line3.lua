-- Raises an error from C on line 3.
local a = tensor.zeros(2, 3)
local b = a:matmul(tensor.zeros(4, 4))
