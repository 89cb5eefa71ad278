// Everything a user of tapegrad needs, in one include.
#pragma once

#include "core/engine.hpp"
#include "core/gradcheck.hpp"
#include "core/tensor.hpp"
#include "nn/batchnorm.hpp"
#include "nn/module.hpp"
#include "nn/npy.hpp"
#include "ops/activations.hpp"
#include "ops/batchnorm.hpp"
#include "ops/batchnorm_kernels.hpp"
#include "ops/broadcast.hpp"
#include "ops/elementwise.hpp"
#include "ops/reductions.hpp"
#include "ops/shape.hpp"
