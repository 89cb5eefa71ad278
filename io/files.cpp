#include "io/files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/errors.hpp"

namespace tg::io {

namespace fs = std::filesystem;

namespace {

std::string reason(int err) { return std::strerror(err); }

// fsync of a folder, so that a rename inside it survives a power cut; best effort.
void sync_folder(const fs::path& dir) {
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

}  // namespace

void write_file_atomically(const std::string& path, std::initializer_list<std::string_view> pieces) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw IoError(fmt::format("{}: cannot write: {}", tmp, reason(errno)));
    }
    auto fail = [&](int err) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw IoError(fmt::format("{}: writing failed ({}); {} was left as it was", tmp, reason(err), path));
    };
    for (std::string_view piece : pieces) {
        const char* p = piece.data();
        std::size_t left = piece.size();
        while (left > 0) {
            const ssize_t n = ::write(fd, p, left);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                fail(n < 0 ? errno : ENOSPC);
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    }
    if (::fsync(fd) != 0 && errno != EINVAL) {
        fail(errno);
    }
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw IoError(fmt::format("{}: writing failed ({}); {} was left as it was", tmp, reason(err), path));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw IoError(fmt::format("{}: cannot replace it: {}", path, reason(err)));
    }
    sync_folder(fs::path(path).parent_path());
}

namespace {

const char* staging_infix = ".saving-";

// Staging folders of processes that no longer run, left by a kill in the middle of a save.
void remove_stale_staging(const fs::path& dir) {
    const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
    const std::string prefix = dir.filename().string() + staging_infix;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(parent, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind(prefix, 0) != 0) {
            continue;
        }
        char* end = nullptr;
        const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
        if (pid > 0 && *end == '\0' && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
            fs::remove_all(entry.path(), ec);
        }
    }
}

}  // namespace

void write_folder_atomically(const std::string& dir_name, const std::function<void(const std::string&)>& fill) {
    const fs::path dir = fs::path(dir_name).lexically_normal();
    if (dir.empty() || dir.filename().empty() || dir.filename() == "." || dir.filename() == "..") {
        throw IoError(fmt::format("save: \"{}\" is not a folder name tapegrad can save to; name a new folder, "
                                  "e.g. runs/model",
                                  dir_name));
    }
    std::error_code ec;
    const bool exists = fs::exists(dir, ec);
    if (exists) {
        if (!fs::is_directory(dir, ec)) {
            throw IoError(fmt::format("save: {} exists and is not a folder; choose another path", dir_name));
        }
        if (!fs::is_empty(dir, ec) && !fs::exists(dir / folder_manifest, ec)) {
            throw IoError(fmt::format("save: {} is a folder that tapegrad did not write (it has no {}); tapegrad "
                                      "only replaces its own saves, so choose another path or empty it",
                                      dir_name, folder_manifest));
        }
    }
    if (!dir.parent_path().empty()) {
        fs::create_directories(dir.parent_path(), ec);
        if (ec) {
            throw IoError(fmt::format("save: cannot create {}: {}", dir.parent_path().string(), ec.message()));
        }
    }
    remove_stale_staging(dir);
    const fs::path staging = dir.string() + staging_infix + std::to_string(::getpid());
    fs::remove_all(staging, ec);
    if (!fs::create_directory(staging, ec)) {
        throw IoError(fmt::format("save: cannot create {}: {}", staging.string(), ec ? ec.message() : "it exists"));
    }
    try {
        fill(staging.string());
        if (!fs::exists(staging / folder_manifest)) {
            throw IoError(fmt::format("save: nothing wrote {} into {}", folder_manifest, staging.string()));
        }
        sync_folder(staging);
        if (!exists) {
            if (std::rename(staging.c_str(), dir.c_str()) != 0) {
                throw IoError(fmt::format("save: cannot rename {} to {}: {}", staging.string(), dir_name, reason(errno)));
            }
        } else if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0) {
            // A file system without atomic exchange: move the old folder aside, then the new one in.
            const fs::path previous = dir.string() + ".previous";
            fs::remove_all(previous, ec);
            if (std::rename(dir.c_str(), previous.c_str()) != 0) {
                throw IoError(fmt::format("save: cannot replace {}: {}", dir_name, reason(errno)));
            }
            if (std::rename(staging.c_str(), dir.c_str()) != 0) {
                const int err = errno;
                std::rename(previous.c_str(), dir.c_str());  // put the previous save back
                throw IoError(fmt::format("save: cannot replace {}: {}", dir_name, reason(err)));
            }
            fs::remove_all(previous, ec);
        }
    } catch (...) {
        fs::remove_all(staging, ec);
        throw;
    }
    fs::remove_all(staging, ec);  // after an exchange, the previous save
    sync_folder(dir.parent_path());
}

}  // namespace tg::io
