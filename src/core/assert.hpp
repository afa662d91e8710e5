#pragma once
// Invariant checks that stay on in every build type (TIGER_STYLE: assert densely).
// A failed assertion is a bug in WeaselDB, never a reaction to bad input: bad input gets an
// error response, not an abort.

#include <cstdio>
#include <cstdlib>

#define WEASEL_ASSERT(cond)                                                                  \
  do {                                                                                       \
    if (__builtin_expect(!(cond), 0)) {                                                      \
      std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);      \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

#define WEASEL_ASSERT_MSG(cond, msg)                                                         \
  do {                                                                                       \
    if (__builtin_expect(!(cond), 0)) {                                                      \
      std::fprintf(stderr, "%s:%d: assertion failed: %s (%s)\n", __FILE__, __LINE__, #cond,  \
                   msg);                                                                     \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)
