/* fuzz_text.c - libFuzzer harness for the text target (tests/fuzz/targets.h);
 * built and run by scripts/fuzz.sh. Any violation of the target's checks
 * aborts, so libFuzzer saves the input as a crash. */
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_text(data, size)) abort();
    return 0;
}
