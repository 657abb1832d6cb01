/* Prints a line on the serial console and shuts down through the i8042. */
#include "guest.h"

int main(void)
{
	puts("hello from cocoon guest\n");
	return 0;
}
