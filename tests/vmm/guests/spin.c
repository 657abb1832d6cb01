/* Runs until stopped from outside: prints "tick N" every few thousand instructions,
 * so a test can see whether the vCPU is running (pause/resume, shutdown via the API). */
#include "guest.h"

int main(void)
{
	for (u32 i = 0;; i++) {
		puts("tick ");
		puthex(i, 8);
		puts("\n");
		for (volatile u32 j = 0; j < 500; j++)
			;
	}
}
