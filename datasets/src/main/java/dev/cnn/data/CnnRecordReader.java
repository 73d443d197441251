package dev.cnn.data;

import org.datavec.api.conf.Configuration;
import org.datavec.api.records.Record;
import org.datavec.api.records.metadata.RecordMetaData;
import org.datavec.api.records.metadata.RecordMetaDataURI;
import org.datavec.api.records.reader.BaseRecordReader;
import org.datavec.api.split.InputSplit;
import org.datavec.api.writable.IntWritable;
import org.datavec.api.writable.NDArrayWritable;
import org.datavec.api.writable.Writable;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.DataInputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * This project's image pipeline as a DataVec {@code RecordReader}, for DL4J code built on DataVec: each record is
 * {@code [NDArrayWritable image [1, C, H, W], IntWritable label]}, as DataVec's own {@code ImageRecordReader} gives
 * them, so {@code new RecordReaderDataSetIterator(reader, batch, 1, reader.getLabels().size())} makes batches. Images
 * are decoded, resized and normalised as {@code cnn train} does ({@link Preprocess}); unreadable images are skipped
 * and counted once in {@link #report()} ({@code strict}: the first one throws {@link DataException}).
 *
 * <p>Give it an {@link ImageDataset} (a folder, a CSV, the built-in data, through {@link DataSource}), or
 * {@link #initialize(InputSplit)} it with a {@code FileSplit} over a folder of class subfolders: the label of a file
 * is its parent folder's name, as DataVec's {@code ParentPathLabelGenerator} gives it.
 */
public final class CnnRecordReader extends BaseRecordReader {
    private final Preprocess pre;
    private final SkipReport report;
    private ImageDataset data;
    private Configuration conf;
    private int cursor;
    private Record lookahead;
    private final java.util.Set<Integer> skipped = new java.util.HashSet<>();

    /** A reader over {@code data}. */
    public CnnRecordReader(ImageDataset data, Preprocess pre, SkipReport report) {
        this.data = data;
        this.pre = pre;
        this.report = report;
    }

    /** A reader to {@link #initialize(InputSplit)} with a split of image files in class folders. */
    public CnnRecordReader(Preprocess pre, boolean strict) {
        this(null, pre, new SkipReport(strict));
    }

    /** Images skipped so far. */
    public SkipReport report() {
        return report;
    }

    @Override
    public void initialize(InputSplit split) {
        List<Path> files = new ArrayList<>();
        TreeSet<String> classes = new TreeSet<>();
        for (URI u : split.locations()) {
            Path p = Path.of(u);
            if (p.getFileName() != null && ImageDecoder.isImageName(p.getFileName().toString())
                    && p.getParent() != null && p.getParent().getFileName() != null) {
                files.add(p);
                classes.add(p.getParent().getFileName().toString());
            }
        }
        if (files.isEmpty()) {
            throw new DataException(split + ": no images in class folders; give a FileSplit over a folder of class "
                    + "subfolders");
        }
        List<String> labels = new ArrayList<>(classes);
        List<Sample> samples = new ArrayList<>();
        for (Path f : files) {
            samples.add(Sample.ofFile(f, labels.indexOf(f.getParent().getFileName().toString())));
        }
        data = new ImageDataset(labels, samples);
        skipped.clear();
        reset();
    }

    @Override
    public void initialize(Configuration conf, InputSplit split) {
        setConf(conf);
        initialize(split);
    }

    private ImageDataset data() {
        if (data == null) {
            throw new IllegalStateException("CnnRecordReader: call initialize(InputSplit) first, or give a dataset");
        }
        return data;
    }

    @Override
    public boolean hasNext() {
        if (lookahead != null) {
            return true;
        }
        while (cursor < data().size()) {
            int i = cursor++;
            if (skipped.contains(i)) {
                continue; // counted once, on the first pass
            }
            try {
                lookahead = record(data.samples().get(i));
                return true;
            } catch (BadImageException e) {
                skipped.add(i);
                report.skip(e); // throws DataException when strict
            }
        }
        return false;
    }

    private Record record(Sample s) throws BadImageException {
        INDArray x = ImageDecoder.tensor(s.decodeResized(ImageDecoder.DEFAULT_MAX_PIXELS, pre, DecodeBudget.shared()),
                pre);
        List<Writable> w = List.of(new NDArrayWritable(x), new IntWritable(s.label()));
        URI uri = s.path() == null ? null : s.path().toUri();
        return new org.datavec.api.records.impl.Record(new ArrayList<>(w),
                uri == null ? null : new RecordMetaDataURI(uri, CnnRecordReader.class));
    }

    @Override
    public Record nextRecord() {
        if (!hasNext()) {
            throw new java.util.NoSuchElementException("no more images");
        }
        Record r = lookahead;
        lookahead = null;
        invokeListeners(r);
        return r;
    }

    @Override
    public List<Writable> next() {
        return nextRecord().getRecord();
    }

    @Override
    public List<String> getLabels() {
        return data().classes();
    }

    @Override
    public void reset() {
        cursor = 0;
        lookahead = null;
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    /** Decodes one image from a stream; its label comes from the folder {@code uri} names, -1 when unknown. */
    @Override
    public List<Writable> record(URI uri, DataInputStream in) throws IOException {
        String name = uri == null ? "image" : uri.getPath();
        try {
            INDArray x = ImageDecoder.load(in.readAllBytes(), name, pre);
            int label = -1;
            if (uri != null && data != null) {
                Path parent = Path.of(uri.getPath()).getParent();
                label = parent == null || parent.getFileName() == null ? -1
                        : data.classes().indexOf(parent.getFileName().toString());
            }
            return new ArrayList<>(List.of(new NDArrayWritable(x), new IntWritable(label)));
        } catch (BadImageException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    @Override
    public Record loadFromMetaData(RecordMetaData meta) throws IOException {
        Path p = Path.of(meta.getURI());
        for (Sample s : data().samples()) {
            if (p.equals(s.path())) {
                try {
                    return record(s);
                } catch (BadImageException e) {
                    throw new IOException(e.getMessage(), e);
                }
            }
        }
        throw new IOException(p + ": not in this reader's data");
    }

    @Override
    public List<Record> loadFromMetaData(List<RecordMetaData> metas) throws IOException {
        List<Record> out = new ArrayList<>();
        for (RecordMetaData m : metas) {
            out.add(loadFromMetaData(m));
        }
        return out;
    }

    @Override
    public void close() {
    }

    @Override
    public void setConf(Configuration conf) {
        this.conf = conf;
    }

    @Override
    public Configuration getConf() {
        return conf;
    }
}
