#include "stream/output_queue.hpp"

#include <cerrno>
#include <cstdio>
#include <sys/uio.h>

#include "core/assert.hpp"

namespace weasel {

void OutputQueue::push(std::shared_ptr<const void> owner, std::string_view data,
                       uint64_t last_version, bool framed) {
  if (data.empty()) return;  // an empty chunk would end a chunked body
  Segment s;
  s.owner = std::move(owner);
  s.data = data;
  s.last_version = last_version;
  s.framed = framed && chunked_;
  if (s.framed) {
    const int n = std::snprintf(s.head, sizeof(s.head), "%zx\r\n", data.size());
    WEASEL_ASSERT(n > 0 && static_cast<size_t>(n) < sizeof(s.head));
    s.head_bytes = static_cast<uint8_t>(n);
  }
  pending_bytes_ += data.size();
  segments_.push_back(std::move(s));
}

void OutputQueue::push_copy(std::string data, uint64_t last_version, bool framed) {
  if (data.empty()) return;
  auto owned = std::make_shared<const std::string>(std::move(data));
  const std::string_view view = *owned;
  push(std::move(owned), view, last_version, framed);
}

OutputQueue::WriteResult OutputQueue::write_to(int fd) {
  static constexpr std::string_view kCrlf = "\r\n";
  constexpr int kMaxIov = 64;
  while (!segments_.empty()) {
    iovec iov[kMaxIov];
    int count = 0;
    size_t skip = front_written_;
    for (const Segment& s : segments_) {
      if (count + 3 > kMaxIov) break;
      const std::string_view parts[3] = {std::string_view(s.head, s.head_bytes), s.data,
                                         s.framed ? kCrlf : std::string_view()};
      for (std::string_view part : parts) {
        if (part.size() <= skip) {
          skip -= part.size();
          continue;
        }
        iov[count].iov_base = const_cast<char*>(part.data() + skip);
        iov[count].iov_len = part.size() - skip;
        skip = 0;
        ++count;
      }
    }
    const ssize_t n = ::writev(fd, iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? WriteResult::kBlocked : WriteResult::kError;
    }
    bytes_written_ += static_cast<uint64_t>(n);
    advance(static_cast<size_t>(n));
  }
  return WriteResult::kDrained;
}

void OutputQueue::advance(size_t n) {
  while (n > 0) {
    WEASEL_ASSERT(!segments_.empty());
    Segment& front = segments_.front();
    const size_t left = front.framed_bytes() - front_written_;
    if (n < left) {
      front_written_ += n;
      return;
    }
    n -= left;
    pending_bytes_ -= front.data.size();
    if (front.last_version > written_version_) written_version_ = front.last_version;
    segments_.pop_front();
    front_written_ = 0;
  }
}

std::string OutputQueue::take_partial(uint64_t& resume_after) {
  std::string out;
  resume_after = written_version_;
  if (!segments_.empty() && front_written_ > 0) {
    const Segment& s = segments_.front();
    std::string framed(s.head, s.head_bytes);
    framed.append(s.data);
    if (s.framed) framed += "\r\n";
    out.append(framed, front_written_);
    if (s.last_version > resume_after) resume_after = s.last_version;
  }
  segments_.clear();
  front_written_ = 0;
  pending_bytes_ = 0;
  return out;
}

void OutputQueue::append_framed(std::string& out, std::string_view body) const {
  if (body.empty()) return;
  if (chunked_) {
    char head[20];
    const int n = std::snprintf(head, sizeof(head), "%zx\r\n", body.size());
    out.append(head, static_cast<size_t>(n));
  }
  out.append(body);
  if (chunked_) out += "\r\n";
}

void OutputQueue::append_end(std::string& out) const {
  if (chunked_) out += "0\r\n\r\n";
}

}  // namespace weasel
