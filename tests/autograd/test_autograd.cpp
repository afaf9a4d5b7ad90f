// The tape (autograd/autograd.hpp): gradient accumulation across backward calls, no_grad,
// an input used twice (x + x), diamond graphs, retain_graph, and gradcheck itself.
#include <gtest/gtest.h>

#include "autograd/autograd.hpp"
#include "autograd/gradcheck.hpp"
#include "ops/ops.hpp"
#include "../error_of.hpp"

namespace lmlab {
namespace {

tensor leaf(std::initializer_list<double> v) {
  tensor t = tensor::from<double>({static_cast<std::int64_t>(v.size())}, std::span<const double>(v.begin(), v.size()));
  t.set_requires_grad(true);
  return t;
}

using lmlab::testing::error_of;

TEST(autograd, gradients_accumulate_across_backward_calls) {
  tensor x = leaf({1, 2, 3});
  backward(sum(mul(x, x)));  // d/dx sum x^2 = 2x
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 4, 6}));
  backward(sum(mul_scalar(x, 3)));  // + 3
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{5, 7, 9}));
}

TEST(autograd, no_grad_records_nothing) {
  tensor x = leaf({1, 2});
  {
    no_grad ng;
    EXPECT_FALSE(grad_enabled());
    tensor y = mul(x, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(error_of([&] { backward(sum(y)); }),
              "backward: the tensor does not require grad (no parameter reaches it, or it was made under no_grad)");
  }
  EXPECT_TRUE(grad_enabled());
  EXPECT_TRUE(mul(x, x).requires_grad());
}

TEST(autograd, same_input_twice) {
  tensor x = leaf({1, -2});
  backward(sum(add(x, x)));  // add returns g for both inputs: the engine must not alias them
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 2}));
  x.set_grad({});
  backward(sum(mul(x, x)));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, -4}));
}

TEST(autograd, diamond_graph) {
  // a = 2x; b = exp(x); y = sum(a * b) -> dy/dx = 2 e^x + 2x e^x
  tensor x = leaf({0.5, -1.0});
  tensor a = mul_scalar(x, 2), b = exp(x);
  backward(sum(mul(a, b)));
  auto g = x.grad().to_vector();
  EXPECT_NEAR(g[0], 2 * std::exp(0.5) * 1.5, 1e-14);
  EXPECT_NEAR(g[1], 0.0, 1e-14);
}

TEST(autograd, deep_diamond_with_shared_intermediate) {
  // h = x + 1 used by three branches that meet again: y = sum(h*h + h + 2h)
  tensor x = leaf({1, 2});
  tensor h = add_scalar(x, 1);
  tensor y = sum(add(add(mul(h, h), h), mul_scalar(h, 2)));
  backward(y);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2 * 2 + 3, 2 * 3 + 3}));
}

TEST(autograd, second_backward_needs_retain_graph) {
  tensor x = leaf({1, 2});
  tensor y = sum(exp(x));
  backward(y, {}, true);
  backward(y);  // the graph was retained once
  auto g = x.grad().to_vector();
  EXPECT_NEAR(g[0], 2 * std::exp(1.0), 1e-12);
  EXPECT_EQ(error_of([&] { backward(y); }),
            "backward: the graph through 'sum' was already freed; pass retain_graph=true to backward twice");
}

TEST(autograd, non_scalar_root_needs_gradient) {
  tensor x = leaf({1, 2});
  tensor y = mul_scalar(x, 2);
  EXPECT_EQ(error_of([&] { backward(y); }), "backward: root of shape [2] is not a scalar; pass its gradient");
  backward(y, tensor::from<double>({2}, {1.0, 10.0}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 20}));
}

TEST(autograd, input_without_grad_gets_none) {
  tensor x = leaf({1, 2});
  tensor c = tensor::from<double>({2}, {3.0, 4.0});
  backward(sum(mul(x, c)));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, 4}));
  EXPECT_FALSE(c.grad().defined());
}

TEST(autograd, views_propagate_to_the_base) {
  // Gradient through transpose and narrow views of one leaf accumulates into its .grad.
  tensor x = tensor::from<double>({2, 3}, {1, 2, 3, 4, 5, 6});
  x.set_requires_grad(true);
  tensor y = add(sum(transpose(x, 0, 1), {0}), sum(narrow(x, 1, 1, 2), {1}));
  backward(sum(y));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 2, 2, 1, 2, 2}));
}

TEST(autograd, slices_of_one_tensor_add_into_its_gradient) {
  // A non-leaf split into slices along each dim, overlapping, and also used whole: the first
  // slice's backward places its gradient, the later ones add into their part of it
  // (node::accumulate_part), whatever the order. Exact in double: each element is a sum of
  // small integers.
  tensor x = tensor::from<double>({2, 3, 4}, std::vector<double>(24, 1.0));
  x.set_requires_grad(true);
  tensor h = mul_scalar(x, 2);
  tensor y = add(add(sum(narrow(h, 2, 0, 3)), mul_scalar(sum(narrow(h, 2, 2, 2)), 10)),
                 add(mul_scalar(sum(narrow(h, 1, 1, 2)), 100), mul_scalar(sum(narrow(h, 0, 1, 1)), 1000)));
  backward(add(y, sum(h)));
  const auto g = x.grad().to_vector();
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t t = 0; t < 3; ++t)
      for (std::int64_t c = 0; c < 4; ++c) {
        const double want = 2 * (1 + (c < 3 ? 1 : 0) + (c >= 2 ? 10 : 0) + (t >= 1 ? 100 : 0) + (b == 1 ? 1000 : 0));
        EXPECT_EQ(g[static_cast<std::size_t>((b * 3 + t) * 4 + c)], want) << b << " " << t << " " << c;
      }
  auto res = gradcheck(
      [](const std::vector<tensor>& in) {
        tensor h2 = mul(in[0], in[0]);
        return cat({narrow(h2, 1, 0, 2), narrow(h2, 1, 1, 2), mul(narrow(h2, 1, 2, 1), narrow(h2, 1, 0, 1))}, 1);
      },
      {tensor::from<double>({2, 3, 2}, {0.3, -1.2, 0.7, 2.0, -0.4, 1.1, 0.9, -0.8, 1.5, 0.2, -1.7, 0.6})});
  EXPECT_TRUE(res.ok) << res.report;
}

TEST(gradcheck, catches_a_wrong_backward) {
  // An op whose recorded backward is deliberately wrong (2x instead of 3x).
  auto bad = [](const std::vector<tensor>& in) {
    tensor y = in[0].clone_raw();
    tensor tmp = y;
    dispatch_float(y.type(), "bad", [&]<class T>() {
      for (std::int64_t i = 0; i < y.numel(); ++i) y.data<T>()[i] *= 3;
    });
    if (needs_grad({&in[0]})) record("bad", y, {in[0]}, [](const tensor& g) -> std::vector<tensor> { return {mul_scalar(g, 2)}; });
    return y;
  };
  auto res = gradcheck(bad, {tensor::from<double>({3}, {1.0, 2.0, 3.0})});
  EXPECT_FALSE(res.ok);
  EXPECT_NE(res.report.find("FAIL input 0"), std::string::npos) << res.report;
  auto good = gradcheck([](const std::vector<tensor>& in) { return mul_scalar(in[0], 3); }, {tensor::from<double>({3}, {1.0, 2.0, 3.0})});
  EXPECT_TRUE(good.ok) << good.report;
}

}  // namespace
}  // namespace lmlab
