/* fuzz_text.c -- plain text log lines (src/format) through the generic parser:
 * any bytes, any split, never a crash, a hang or a bad point. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_format(MEND_FMT_TEXT, data, size);
    return 0;
}
