/* fuzz_prom.c -- Prometheus text exposition (src/format) through the generic parser:
 * any bytes, any split, never a crash, a hang or a bad point. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_format(MEND_FMT_PROM, data, size);
    return 0;
}
