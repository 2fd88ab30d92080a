// Range checks for command-line options (CLI11 validators). They apply to values given
// on the command line and to those read from a --config file alike, so a wrong value
// stops a program at its start with the option named ("--resend-ms: must be at least 1"),
// not later, when a task or a connection first uses it.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace fp::config {

// A number >= `low`.
CLI::Validator at_least(double low);

// A number in [low, high].
CLI::Validator in_range(double low, double high);

// A number > 0.
CLI::Validator positive();

// A number strictly between 0 and 1 (a share of samples).
CLI::Validator open_unit_interval();

// A number in [0, 1) (a share that may be none but not all).
CLI::Validator share_below_one();

// A text that is not empty: an option naming a file or folder given "" (an unset shell
// variable) was taken as not given, and its default used (fp-sim run --out "" --fresh
// started the run in runs/<name> over again).
CLI::Validator non_empty();

// A level spdlog knows (trace, debug, info, warn, error, critical, off): its parser turns any
// other word into "off", so a typo would silence the log.
CLI::Validator log_level();

// Adds to every integer option of `app` and its subcommands a check that its value fits a
// 64-bit integer: CLI11 (2.1) reads 99999999999999999999 as the largest one without a word
// (a --seed became 18446744073709551615, a --run id 9223372036854775807) and "-1" given to
// an unsigned option as the largest one too. Call once every option is added.
void add_integer_range_checks(CLI::App& app);

// Refuses a first word of `args` (the arguments after the program's name) that names none
// of `app`'s commands, where `app` has commands and takes no positional arguments: CLI11
// said only "A subcommand is required" of `fp-coordinator keys`. Throws CLI::ExtrasError
// naming the word and the commands; a word after an option taking many values is not
// judged (it may be one of them).
void check_command_word(const CLI::App& app, const std::vector<std::string>& args);

// CLI11_PARSE with check_command_word first: -1 when the command line parsed, else the
// exit code after CLI11 printed the help or the error.
int parse_command_line(CLI::App& app, int argc, const char* const* argv);

}  // namespace fp::config
