#pragma once
// OutputQueue: the bytes a subscriber has been given but not yet written to its socket, as a
// queue of borrowed segments (slices of batches formatted once and shared by every subscriber,
// or per-subscriber strings), written with writev. Optionally frames body segments as HTTP/1.1
// chunks. Single-threaded: owned by the hub thread.
//
// Every segment is a run of whole SSE events, so the stream a client sees is always cut at an
// event boundary. `last_version` of a segment is the version up to which it completes the
// stream (0 for events that complete nothing, like checkpoints); written_version() is the
// highest one completely written, i.e. where a client that saw everything written may resume.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

namespace weasel {

class OutputQueue {
 public:
  enum class WriteResult { kDrained, kBlocked, kError };

  explicit OutputQueue(bool chunked = false) : chunked_(chunked) {}

  // Queues `data`, kept alive by `owner`. `framed` = false writes it raw even on a chunked
  // stream (the HTTP response head).
  void push(std::shared_ptr<const void> owner, std::string_view data, uint64_t last_version,
            bool framed = true);
  // Queues a copy of `data`.
  void push_copy(std::string data, uint64_t last_version, bool framed = true);

  // Writes as much as the non-blocking socket `fd` accepts.
  WriteResult write_to(int fd);

  // Unwritten payload bytes (framing excluded): what the subscriber has "piled up unread".
  size_t pending_bytes() const { return pending_bytes_; }
  // Unwritten payload bytes behind the segment being written: the backlog a reader leaves
  // unread (the segment in progress is excluded, so one event larger than a limit on this
  // does not by itself make a reader slow).
  size_t backlog_bytes() const {
    return segments_.empty() ? 0 : pending_bytes_ - segments_.front().data.size();
  }
  bool empty() const { return segments_.empty(); }
  uint64_t written_version() const { return written_version_; }
  uint64_t bytes_written() const { return bytes_written_; }

  // Ends the stream: drops every queued segment and returns the rest of a partially written
  // one (so the client never sees half an event). `resume_after` is where a client that
  // receives everything written so far plus the returned bytes may resume.
  std::string take_partial(uint64_t& resume_after);
  // Appends `body` framed as this stream frames it (as one chunk when chunked).
  void append_framed(std::string& out, std::string_view body) const;
  // Appends the end of the body (the last chunk when chunked).
  void append_end(std::string& out) const;

 private:
  struct Segment {
    std::shared_ptr<const void> owner;
    std::string_view data;
    uint64_t last_version = 0;
    bool framed = false;
    uint8_t head_bytes = 0;
    char head[14] = {};  // "<hex>\r\n"
    size_t framed_bytes() const { return head_bytes + data.size() + (framed ? 2 : 0); }
  };
  void advance(size_t n);

  const bool chunked_;
  std::deque<Segment> segments_;
  size_t front_written_ = 0;  // framed bytes of the front segment already written
  size_t pending_bytes_ = 0;
  uint64_t written_version_ = 0;
  uint64_t bytes_written_ = 0;
};

}  // namespace weasel
