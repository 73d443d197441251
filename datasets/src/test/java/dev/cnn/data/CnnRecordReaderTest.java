package dev.cnn.data;

import org.datavec.api.split.FileSplit;
import org.deeplearning4j.datasets.datavec.RecordReaderDataSetIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.cnn.data.PipelineTest.png;
import static dev.cnn.data.PipelineTest.solid;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class CnnRecordReaderTest {

    private static Preprocess pre() {
        return Preprocess.builder().size(3, 8, 8).normalization(Normalization.imagenet()).build();
    }

    @Test
    void aFileSplitOverClassFoldersBatchesThroughDl4jsRecordReaderDataSetIterator(@TempDir Path dir) throws Exception {
        int[] colours = {0xFF0000, 0x0000FF};
        String[] names = {"cat", "dog"};
        for (int k = 0; k < 2; k++) {
            for (int i = 0; i < 3; i++) {
                png(solid(12, 10, colours[k]), dir.resolve(names[k]).resolve(i + ".png"));
            }
        }
        Files.writeString(dir.resolve("dog").resolve("notes.png"), "not an image");

        CnnRecordReader reader = new CnnRecordReader(pre(), false);
        reader.initialize(new FileSplit(dir.toFile()));
        assertEquals(List.of("cat", "dog"), reader.getLabels(), "labels from the parent folders, sorted");
        RecordReaderDataSetIterator it = new RecordReaderDataSetIterator(reader, 4, 1, 2);
        int n = 0;
        while (it.hasNext()) {
            DataSet ds = it.next();
            INDArray x = ds.getFeatures();
            assertArrayEquals(new long[]{x.size(0), 3, 8, 8}, x.shape());
            for (int i = 0; i < x.size(0); i++) {
                int label = ds.getLabels().getRow(i).argMax().getInt(0);
                // red images are cats: channel 0 (R) is high exactly when the label says cat
                float red = x.getFloat(i, 0, 4, 4);
                assertEquals(label == 0, red > 1.5f, "label " + label + " red " + red);
                INDArray expected = ImageDecoder.load(dir.resolve(names[label]).resolve("0.png"), pre());
                assertEquals(expected.getFloat(0, 2, 3, 3), x.getFloat(i, 2, 3, 3), 1e-6,
                        "the pipeline's own preprocessing");
            }
            n += (int) x.size(0);
        }
        assertEquals(6, n, "every readable image once");
        assertEquals(1, reader.report().total(), "the text file skipped and counted");

        reader.reset();
        n = 0;
        while (reader.hasNext()) {
            reader.next();
            n++;
        }
        assertEquals(6, n, "reset starts over");

        CnnRecordReader strict = new CnnRecordReader(pre(), true);
        strict.initialize(new FileSplit(dir.toFile()));
        assertThrows(DataException.class, () -> {
            while (strict.hasNext()) {
                strict.next();
            }
        });
    }

    @Test
    void aDatasetFromDataSourceReadsAsRecordsWithTheirFiles(@TempDir Path dir) throws Exception {
        PipelineTest.folder(dir, 2);
        ImageDataset data = DataSource.openFolder(dir, DataSource.Options.defaults(), new SkipReport(false));
        CnnRecordReader reader = new CnnRecordReader(data, pre(), new SkipReport(false));
        var r = reader.nextRecord();
        assertEquals(data.samples().get(0).path().toUri(), r.getMetaData().getURI());
        assertEquals(data.samples().get(0).label(), r.getRecord().get(1).toInt());
        var again = reader.loadFromMetaData(r.getMetaData());
        assertEquals(r.getRecord().get(0), again.getRecord().get(0));
    }
}
