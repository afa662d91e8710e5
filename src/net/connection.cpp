#include "net/connection.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>

#include "core/assert.hpp"

namespace weasel {
namespace {

// Storage of input buffers that emptied, kept per thread for the next buffer that fills on
// it: idle connections hold no buffer (release_if_empty), yet a keep-alive request costs no
// malloc/free pair. Bounded in count and size, so a thread keeps at most
// kSpareCount * kSpareBytesMax bytes.
struct SpareStorage {
  static constexpr size_t kSpareCount = 4;
  static constexpr size_t kSpareBytesMax = 64 * 1024;
  std::unique_ptr<char[]> storage[kSpareCount];
  size_t capacity[kSpareCount] = {};
  size_t count = 0;
};
thread_local SpareStorage t_spare;

// Storage of at least `bytes`: a spare one if the last parked fits, else new. Sets `capacity`.
std::unique_ptr<char[]> acquire_storage(size_t bytes, size_t& capacity) {
  SpareStorage& spare = t_spare;
  if (spare.count > 0 && spare.capacity[spare.count - 1] >= bytes) {
    --spare.count;
    capacity = spare.capacity[spare.count];
    return std::move(spare.storage[spare.count]);
  }
  capacity = bytes;
  return std::unique_ptr<char[]>(new char[bytes]);
}

void park_storage(std::unique_ptr<char[]> storage, size_t capacity) {
  SpareStorage& spare = t_spare;
  if (spare.count == SpareStorage::kSpareCount || capacity > SpareStorage::kSpareBytesMax) return;
  spare.storage[spare.count] = std::move(storage);
  spare.capacity[spare.count] = capacity;
  ++spare.count;
}

}  // namespace

char* InputBuffer::prepare(size_t bytes) {
  // Whatever read() puts into [write_pos_, write_pos_ + bytes) leaves kPaddingBytes after it.
  const size_t needed = bytes + kPaddingBytes;
  if (capacity_ - write_pos_ >= needed) return storage_.get() + write_pos_;
  const size_t live = write_pos_ - read_pos_;
  if (read_pos_ > 0 && capacity_ - live >= needed) {
    // Compact: unconsumed bytes move to the front. Parsers keep offsets relative to data(),
    // which stay valid.
    std::memmove(storage_.get(), storage_.get() + read_pos_, live);
  } else {
    size_t new_capacity = capacity_ == 0 ? needed : capacity_ * 2;
    while (new_capacity < live + needed) new_capacity *= 2;
    std::unique_ptr<char[]> bigger = acquire_storage(new_capacity, new_capacity);
    if (live > 0) std::memcpy(bigger.get(), storage_.get() + read_pos_, live);
    if (storage_) park_storage(std::move(storage_), capacity_);
    storage_ = std::move(bigger);
    capacity_ = new_capacity;
  }
  read_pos_ = 0;
  write_pos_ = live;
  return storage_.get() + write_pos_;
}

void InputBuffer::consume(size_t bytes) {
  WEASEL_ASSERT(bytes <= size());
  read_pos_ += bytes;
  if (read_pos_ == write_pos_) read_pos_ = write_pos_ = 0;
}

void InputBuffer::release_if_empty() {
  if (size() != 0 || capacity_ == 0) return;
  park_storage(std::move(storage_), capacity_);
  storage_.reset();
  capacity_ = read_pos_ = write_pos_ = 0;
}

Connection::Connection(uint64_t id, int fd, std::string peer, int epoll_fd,
                       std::weak_ptr<Server> server)
    : id_(id), fd_(fd), peer_(std::move(peer)), epoll_fd_(epoll_fd), server_(std::move(server)) {}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

Connection::IoResult Connection::read_available(size_t chunk_bytes, size_t max_bytes) {
  // A short read means the receive queue was empty at that moment: whatever arrives later
  // raises a new edge (or, with EPOLLONESHOT, is seen when the connection is re-armed), so no
  // read has to come back with EAGAIN. Stopping at the buffer limit keeps read_hint_ set: the
  // server then asks epoll to look again (see Server::finish_round).
  while (input_.size() < max_bytes) {
    char* dst = input_.prepare(chunk_bytes);
    const ssize_t n = ::read(fd_, dst, chunk_bytes);
    if (n > 0) {
      input_.commit(static_cast<size_t>(n));
      if (static_cast<size_t>(n) < chunk_bytes) {
        read_hint_ = false;
        return IoResult::kOk;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    read_hint_ = false;
    if (n == 0) {
      peer_closed_ = true;
      return IoResult::kClosed;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::kWouldBlock;
    return IoResult::kError;
  }
  return IoResult::kOk;
}

std::string Connection::take_output() {
  std::string rest = output_.substr(output_pos_);
  output_.clear();
  output_pos_ = 0;
  return rest;
}

Connection::IoResult Connection::flush() {
  while (output_pos_ < output_.size()) {
    const ssize_t n = ::send(fd_, output_.data() + output_pos_, output_.size() - output_pos_,
                             MSG_NOSIGNAL);
    if (n > 0) {
      output_pos_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return IoResult::kWouldBlock;
    return IoResult::kError;
  }
  output_.clear();
  output_pos_ = 0;
  // A large response (a big range read, a catch-up burst) should not pin its memory forever.
  constexpr size_t kKeepOutputBytes = 64 * 1024;
  if (output_.capacity() > kKeepOutputBytes) output_.shrink_to_fit();
  return IoResult::kOk;
}

}  // namespace weasel
