#include <cstdio>
int main() {
  std::puts("weaseldb: skeleton");
  return 0;
}
