/* Triple fault: an empty IDT turns the first exception into a shutdown. */
#include "guest.h"

int main(void)
{
	static const struct {
		u16 limit;
		u32 base;
	} __attribute__((packed)) idt = { 0, 0 };
	puts("crashing\n");
	__asm__ volatile("lidt %0; ud2" : : "m"(idt));
	return 0;
}
