// A file mapped into memory, read-only and shared with every process that maps it: how ranks
// read a prepared token file (`ringmaster prepare-text`) without each holding a copy.
#pragma once

#include <cstddef>
#include <string>

namespace rm {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws DATA_MISSING / FILE_UNREADABLE
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace rm
