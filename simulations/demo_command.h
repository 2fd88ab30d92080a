// `fp-sim demo`: the whole Fine-Pruning story on one machine, without the network:
// train a general model on Fashion-MNIST, carve 2-class individuals out of unseen
// data, personalize one, and print general vs Fine-Pruning vs backprop vs SVD.
#pragma once

#include <CLI/CLI.hpp>

namespace fp {

void add_demo_command(CLI::App& app);

}  // namespace fp
