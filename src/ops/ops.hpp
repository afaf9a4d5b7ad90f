// The differentiable op set (one header per family, included here for convenience).
// Every op: f32 and f64, forward above backward in its .cpp, shapes in comments, a naive
// reference beside any optimised path (used by tests/ops), and a row in the op table test.
#pragma once

#include "ops/attention.hpp"
#include "ops/elementwise.hpp"
#include "ops/gemm.hpp"
#include "ops/linalg.hpp"
#include "ops/loss.hpp"
#include "ops/norm.hpp"
#include "ops/reduce.hpp"
#include "ops/shape.hpp"
