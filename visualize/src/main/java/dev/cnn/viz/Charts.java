package dev.cnn.viz;

import dev.cnn.core.EpochStats;
import dev.cnn.core.Trainer;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.SymbolAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.PaintScale;
import org.jfree.chart.renderer.xy.XYBlockRenderer;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.PaintScaleLegend;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.data.xy.DefaultXYZDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Paint;
import java.awt.image.BufferedImage;
import java.util.List;

/** Training curves and the confusion-matrix heat map, drawn with JFreeChart (headless). */
public final class Charts {
    public static final int WIDTH = 640;
    public static final int HEIGHT = 360;

    private Charts() {
    }

    /** Train and validation loss per epoch. */
    public static BufferedImage loss(List<EpochStats> history, String title) {
        XYSeries train = new XYSeries("train loss");
        XYSeries val = new XYSeries("validation loss");
        for (EpochStats s : history) {
            add(train, s.epoch(), s.trainLoss());
            add(val, s.epoch(), s.valLoss());
        }
        return line(title, "loss", true, train, val);
    }

    /** Validation top-1 and top-5 accuracy per epoch. */
    public static BufferedImage accuracy(List<EpochStats> history, String title) {
        XYSeries top1 = new XYSeries("validation top-1");
        XYSeries top5 = new XYSeries("validation top-5");
        for (EpochStats s : history) {
            add(top1, s.epoch(), s.top1());
            add(top5, s.epoch(), s.top5());
        }
        BufferedImage img = line(title, "accuracy", true, top1, top5);
        return img;
    }

    /**
     * One metric of several runs per epoch, a line each (e.g. the training loss of plain and residual networks of
     * growing depth): {@code runs} maps a run's name to its values for epochs 1, 2, ...
     */
    public static BufferedImage curves(java.util.Map<String, double[]> runs, String yLabel, String title) {
        XYSeries[] series = new XYSeries[runs.size()];
        int i = 0;
        for (java.util.Map.Entry<String, double[]> e : runs.entrySet()) {
            XYSeries s = new XYSeries(e.getKey());
            for (int k = 0; k < e.getValue().length; k++) {
                add(s, k + 1, e.getValue()[k]);
            }
            series[i++] = s;
        }
        return line(title, yLabel, false, series);
    }

    /** The learning-rate range test: smoothed loss against the rate (log scale), the suggestion marked. */
    public static BufferedImage lrFind(List<Double> lrs, List<Double> losses, double suggestion, String title) {
        XYSeries curve = new XYSeries("smoothed loss");
        for (int i = 0; i < lrs.size(); i++) {
            if (Double.isFinite(losses.get(i))) {
                curve.add(lrs.get(i), losses.get(i));
            }
        }
        JFreeChart chart = ChartFactory.createXYLineChart(title, "learning rate (log scale)", "loss",
                new XYSeriesCollection(curve), PlotOrientation.VERTICAL, false, false, false);
        style(chart);
        XYPlot plot = chart.getXYPlot();
        org.jfree.chart.axis.LogAxis x = new org.jfree.chart.axis.LogAxis("learning rate (log scale)");
        x.setBase(10);
        x.setStandardTickUnits(NumberAxis.createStandardTickUnits());
        plot.setDomainAxis(x);
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
        r.setSeriesPaint(0, new Color(0x1f77b4));
        r.setSeriesStroke(0, new BasicStroke(2f));
        plot.setRenderer(r);
        org.jfree.chart.plot.ValueMarker m = new org.jfree.chart.plot.ValueMarker(suggestion, new Color(0xd62728),
                new BasicStroke(1.5f));
        m.setLabel(String.format("suggested %.2g", suggestion));
        m.setLabelAnchor(org.jfree.chart.ui.RectangleAnchor.TOP_RIGHT);
        m.setLabelTextAnchor(org.jfree.chart.ui.TextAnchor.TOP_LEFT);
        plot.addDomainMarker(m);
        return chart.createBufferedImage(WIDTH, HEIGHT);
    }

    private static void add(XYSeries s, int x, double y) {
        if (Double.isFinite(y)) {
            s.add(x, y);
        }
    }

    /** Lines per epoch (with point markers when {@code shapes}), one colour each. */
    private static BufferedImage line(String title, String yLabel, boolean shapes, XYSeries... series) {
        XYSeriesCollection ds = new XYSeriesCollection();
        for (XYSeries s : series) {
            if (s.getItemCount() > 0) {
                ds.addSeries(s);
            }
        }
        JFreeChart chart = ChartFactory.createXYLineChart(title, "epoch", yLabel, ds, PlotOrientation.VERTICAL, true,
                false, false);
        style(chart);
        XYPlot plot = chart.getXYPlot();
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, shapes);
        Color[] colours = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c), new Color(0xd62728),
                new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f)};
        for (int i = 0; i < ds.getSeriesCount(); i++) {
            r.setSeriesPaint(i, colours[i % colours.length]);
            r.setSeriesStroke(i, new BasicStroke(2f));
        }
        plot.setRenderer(r);
        NumberAxis x = (NumberAxis) plot.getDomainAxis();
        x.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        return chart.createBufferedImage(WIDTH, HEIGHT);
    }

    /** Row-normalised confusion matrix (rows: true class, columns: predicted) as a heat map with class names. */
    public static BufferedImage confusion(long[][] m, List<String> labels, String title) {
        int k = labels.size();
        DefaultXYZDataset ds = new DefaultXYZDataset();
        double[] xs = new double[k * k];
        double[] ys = new double[k * k];
        double[] zs = new double[k * k];
        for (int t = 0; t < k; t++) {
            long row = 0;
            for (int p = 0; p < k; p++) {
                row += m[t][p];
            }
            for (int p = 0; p < k; p++) {
                int i = t * k + p;
                xs[i] = p;
                ys[i] = k - 1 - t; // first class at the top
                zs[i] = row == 0 ? 0 : m[t][p] / (double) row;
            }
        }
        ds.addSeries("confusion", new double[][]{xs, ys, zs});
        String[] names = labels.toArray(new String[0]);
        String[] reversed = new String[k];
        for (int i = 0; i < k; i++) {
            reversed[i] = names[k - 1 - i];
        }
        SymbolAxis xAxis = new SymbolAxis("predicted", names);
        SymbolAxis yAxis = new SymbolAxis("true", reversed);
        xAxis.setVerticalTickLabels(k > 6);
        Font tick = new Font(Font.SANS_SERIF, Font.PLAIN, k > 20 ? 8 : 11);
        xAxis.setTickLabelFont(tick);
        yAxis.setTickLabelFont(tick);
        XYBlockRenderer r = new XYBlockRenderer();
        PaintScale scale = new BlueScale();
        r.setPaintScale(scale);
        XYPlot plot = new XYPlot(ds, xAxis, yAxis, r);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinesVisible(false);
        plot.setRangeGridlinesVisible(false);
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, false);
        NumberAxis legendAxis = new NumberAxis("fraction of the true class");
        legendAxis.setRange(0, 1);
        PaintScaleLegend legend = new PaintScaleLegend(scale, legendAxis);
        legend.setPosition(RectangleEdge.RIGHT);
        legend.setMargin(4, 4, 40, 4);
        chart.addSubtitle(legend);
        style(chart);
        int side = Math.max(420, Math.min(1100, 60 + 36 * k));
        return chart.createBufferedImage(side + 120, side);
    }

    private static void style(JFreeChart chart) {
        chart.setBackgroundPaint(Color.WHITE);
        chart.setAntiAlias(true);
        if (chart.getPlot() instanceof XYPlot p) {
            p.setBackgroundPaint(Color.WHITE);
            p.setDomainGridlinePaint(new Color(0xDDDDDD));
            p.setRangeGridlinePaint(new Color(0xDDDDDD));
        }
    }

    /** White to dark blue over [0, 1]. */
    static final class BlueScale implements PaintScale {
        @Override
        public double getLowerBound() {
            return 0;
        }

        @Override
        public double getUpperBound() {
            return 1;
        }

        @Override
        public Paint getPaint(double v) {
            double t = Math.max(0, Math.min(1, v));
            return new Color((int) (255 - 247 * t), (int) (255 - 207 * t), (int) (255 - 148 * t));
        }
    }
}
