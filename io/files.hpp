// Writing files and folders so that a crash, a kill or a full disk in the middle leaves the
// previous version whole: everything is written beside the target, flushed to disk, and renamed
// over it in one step.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

namespace tg::io {

// Writes the pieces, in order, to `path` + ".tmp", flushes them to disk and renames the result
// over `path`. On failure (no space, a file size limit, no permission) the temporary file is
// removed, `path` is untouched and an IoError names the file and the reason.
void write_file_atomically(const std::string& path, std::initializer_list<std::string_view> pieces);

// The name of the file that marks a folder as written by tapegrad (see write_folder_atomically).
inline constexpr const char* folder_manifest = "tapegrad.json";

// Fills a new staging folder beside `dir` with `fill(staging)`, then swaps it in for `dir` in one
// rename (the previous contents are removed afterwards). If `fill` throws, the staging folder is
// removed and `dir` is left as it was. `fill` must write `folder_manifest`; an existing `dir` that
// is not empty and has no manifest is refused, so that no folder tapegrad did not write is
// replaced. Staging folders left by a process that was killed mid-save are removed.
void write_folder_atomically(const std::string& dir, const std::function<void(const std::string& staging)>& fill);

}  // namespace tg::io
