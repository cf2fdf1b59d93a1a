/* SPDX-License-Identifier: MIT */
/* A statically linked program, which `dmasync run` must refuse (tests). */
#include <stdio.h>

int main(void)
{
	puts("static hello");
	return 0;
}
