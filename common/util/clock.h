// Wall-clock time as stored in the database and shown in reports.
#pragma once

namespace fp {

// Seconds since the Unix epoch (system clock), with sub-second resolution.
double unix_now();

}  // namespace fp
