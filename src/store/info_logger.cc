#include "store/info_logger.h"

#include <sys/time.h>

#include <cstdarg>
#include <ctime>
#include <filesystem>

namespace sluice::store {

std::shared_ptr<rocksdb::Logger> InfoLogger::Open(const std::string& dir,
                                                  rocksdb::InfoLogLevel level) {
  const std::filesystem::path path = std::filesystem::path(dir) / "LOG";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kRotateBytes) {
    std::filesystem::rename(path, std::filesystem::path(dir) / "LOG.old", ec);
  }
  std::FILE* f = std::fopen(path.c_str(), "ae");
  return std::shared_ptr<rocksdb::Logger>(new InfoLogger(f, level));
}

InfoLogger::InfoLogger(std::FILE* file, rocksdb::InfoLogLevel level)
    : rocksdb::Logger(level), file_(file) {}

InfoLogger::~InfoLogger() { CloseImpl().PermitUncheckedError(); }

rocksdb::Status InfoLogger::CloseImpl() {
  std::lock_guard lock(mu_);
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  return rocksdb::Status::OK();
}

void InfoLogger::Logv(const char* format, va_list ap) {
  char line[1024];
  struct timeval now {};
  gettimeofday(&now, nullptr);
  struct tm t {};
  localtime_r(&now.tv_sec, &t);
  int n = std::snprintf(line, sizeof(line), "%04d/%02d/%02d-%02d:%02d:%02d.%06ld ",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                        static_cast<long>(now.tv_usec));
  if (n < 0) return;
  va_list copy;
  va_copy(copy, ap);
  const int m = std::vsnprintf(line + n, sizeof(line) - static_cast<size_t>(n), format, copy);
  va_end(copy);
  if (m < 0) return;
  size_t len = std::min(sizeof(line) - 1, static_cast<size_t>(n) + static_cast<size_t>(m));
  std::lock_guard lock(mu_);
  if (file_ == nullptr) return;
  // Errors (a full disk) are ignored on purpose: see the header.
  (void)std::fwrite(line, 1, len, file_);
  (void)std::fputc('\n', file_);
  (void)std::fflush(file_);
}

}  // namespace sluice::store
