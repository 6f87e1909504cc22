// InfoLogger: RocksDB's informational log (the LOG file in the data
// directory), written so that a write error is dropped, never fatal.
//
// Why not RocksDB's own: its file logger writes through a WritableFileWriter,
// which, once one write failed (a full disk), asserts on the next one, and
// Debian's RocksDB is built with assertions on: the first log line after
// ENOSPC aborted the broker. This logger appends with stdio and ignores
// errors; lines lost while the disk is full are the price.
//
// At open, a LOG larger than kRotateBytes is renamed to LOG.old (one kept),
// so the file stays bounded across restarts. Thread-safe (RocksDB logs from
// its background threads).
#pragma once

#include <rocksdb/env.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

namespace sluice::store {

class InfoLogger final : public rocksdb::Logger {
 public:
  static constexpr uint64_t kRotateBytes = 16 << 20;

  // Appends to `dir`/LOG; a logger that writes nothing when the file cannot
  // be opened (the store then opens without an info log).
  static std::shared_ptr<rocksdb::Logger> Open(const std::string& dir,
                                               rocksdb::InfoLogLevel level);
  ~InfoLogger() override;

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override;

 private:
  InfoLogger(std::FILE* file, rocksdb::InfoLogLevel level);
  rocksdb::Status CloseImpl() override;

  std::mutex mu_;
  std::FILE* file_;  // null when closed or never opened
};

}  // namespace sluice::store
