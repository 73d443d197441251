package dev.cnn.parallel;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class FrequencyTest {
    @Test
    void theAveragingFrequencyDividesAnEpochsRounds() {
        assertEquals(5, ParallelTrainer.frequency(5, 20));
        assertEquals(4, ParallelTrainer.frequency(5, 12), "12 rounds: every 4th, not every 5th (2 lost)");
        assertEquals(3, ParallelTrainer.frequency(5, 3), "fewer rounds than the frequency: all of them");
        assertEquals(1, ParallelTrainer.frequency(5, 7), "a prime number of rounds: every round");
    }
}
