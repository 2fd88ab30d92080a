// Free Spoken Digit Dataset: recordings/{digit}_{speaker}_{index}.wav, 8 kHz mono.
// Each recording becomes a fixed-size log-mel spectrogram; groups are speakers.
#pragma once

#include <string>

#include "data/dataset.h"
#include "data/log_mel.h"
#include "util/status.h"

namespace fp {

// The path used when none is configured: $FP_FSDD_DIR when set (a user's explicit choice,
// used even where ../shared exists), else ../shared/data/fsdd relative to the working
// directory if it exists, else "".
std::string default_fsdd_dir();

// Loads every recording under `dir`/recordings. Inputs [N,1,n_mels,frames].
Result<Dataset> load_fsdd(const std::string& dir, const LogMelConfig& features = {});

}  // namespace fp
