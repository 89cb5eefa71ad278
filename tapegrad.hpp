// Everything a user of tapegrad needs, in one include.
#pragma once

#include "core/engine.hpp"
#include "core/gradcheck.hpp"
#include "core/tensor.hpp"
#include "ops/activations.hpp"
#include "ops/broadcast.hpp"
#include "ops/elementwise.hpp"
#include "ops/reductions.hpp"
#include "ops/shape.hpp"
