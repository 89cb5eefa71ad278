// Anomaly mode, like PyTorch's detect_anomaly: under a DetectAnomalyGuard every op's result and
// every gradient a node sends back is checked for NaN and infinity, and the first one found
// throws an AnomalyError naming the op, the tensor and the chain of ops that made it:
//
//   anomaly in forward: div produced NaN (4 of 12 values), computed as div(xc, std), where
//   std = sqrt(add(sigma2, 0)), sigma2 = mean(pow(xc)), xc = sub(X, mu), mu = mean(X); look for a
//   division by zero (a constant feature has variance 0)
//
// Off by default; when off, the cost is one test of a thread-local flag per op and per node.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace tg {

bool anomaly_enabled();

// While a backward rule runs, the ops it is made of are not checked one by one: the engine checks
// what the rule returns (check_backward), which names the node and the input the gradient goes
// to. The engine holds this guard around each rule.
bool forward_checks_paused();
class PauseForwardChecks {
public:
    PauseForwardChecks();
    ~PauseForwardChecks();
    PauseForwardChecks(const PauseForwardChecks&) = delete;
    PauseForwardChecks& operator=(const PauseForwardChecks&) = delete;

private:
    bool previous_;
};

class DetectAnomalyGuard {
public:
    DetectAnomalyGuard();
    ~DetectAnomalyGuard();
    DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
    DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

private:
    bool previous_;
};

// "div(xc, std), where std = sqrt(add(sigma2, 1e-05)), sigma2 = mean(pow(xc)), ..." for a tensor
// computed from `inputs` by `op` (its own name, if any, is the caller's to add).
template <class T>
std::string lineage(const char* op, const std::vector<const TensorImpl<T>*>& inputs);

// Throws AnomalyError if `value`, just computed by `op` from `inputs`, holds a NaN or an infinity.
template <class T>
void check_forward(const char* op, const Array<T>& value, TensorList<T> inputs);

// Throws AnomalyError if the gradient `node` (which made `output`) sends to its input `i` is not
// finite.
template <class T>
void check_backward(const TensorImpl<T>& output, const Node<T>& node, std::size_t i, const Array<T>& grad);

}  // namespace tg
