-- Trains a ResNet-8 (batch norm in training mode) briefly and saves it to
-- cfg.out with the final loss as an attribute; test_train.lua runs it with
-- --threads 1 and 2 and compares the files bit for bit.
local models = require "sanity.models"
local x, y = data.fashion_mnist{split = "train", n = 96}
local m = models.resnet8{seed = 2}
local h = train.fit(m, x, y, {epochs = 2, batch_size = 32, optimizer = "sgd", lr = 0.05, momentum = 0.9,
                              weight_decay = 1e-4, seed = 7})
m:save(cfg.out, {attrs = {loss = h.loss[2]}})
