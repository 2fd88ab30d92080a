// The files a report wrote into its folder, listed in the folder, so that the next report
// written there removes those it does not write again: a folder reused for another run's
// report kept the first run's variant tables and campaign folders beside the second's, read
// as one report.
#pragma once

#include <string>
#include <vector>

#include "util/status.h"

namespace fp {
class StagedFiles;  // util/file_io.h
}

namespace fp::report {

// One path a line, relative to the report folder.
constexpr char kReportManifest[] = "report-files.txt";

// Removes the files `dir`'s manifest lists that `written` (paths under `dir`, as written)
// does not, and the folders that leaves empty, then writes the manifest of `written`. A
// manifest line that is not a plain relative path inside `dir` is left alone; a folder
// without a manifest (a report of before 6 Dec) loses nothing.
Status replace_report_manifest(const std::string& dir, const std::vector<std::string>& written);

// Puts a report's staged files in place in `dir` and replaces its manifest with theirs, one
// writer at a time (util/folder_lock.h): two runs writing one report folder at once left one's
// summary beside the other's tables, and one's manifest naming the other's files.
Status put_report_in_place(const std::string& dir, StagedFiles& files);

}  // namespace fp::report
