import OrbitCore

/// One gnuplot script that draws one plot twice, as PNG (pngcairo) and SVG, from data held in the script
/// itself (datablocks), so the `.gp` kept beside the pictures redraws them unchanged or restyled.
struct PlotScript {
    /// File name without extension: `<name>.gp`, `<name>.png`, `<name>.svg`.
    var name: String
    var title: String
    /// Second title line: run id(s), workload, what the labels mean.
    var subtitle: String
    var xlabel: String
    var ylabel: String
    /// Settings after the common ones (axes, tics, styles).
    var settings: [String] = []
    /// Named datablocks: (name without '$', lines).
    var data: [(name: String, lines: [String])] = []
    /// The `plot` command's clauses, joined with ", \\\n".
    var clauses: [String] = []
    /// Datablocks that hold no point at all (nothing to draw) yield a "no data" note instead of a gnuplot error.
    var width = 1100
    var height = 720

    func render() -> String {
        var s = "# orbit-bench plot: \(name). Redraw with `gnuplot \(name).gp` in this directory;\n"
        s += "# the data are the datablocks below (from the results files named in the title).\n"
        for d in data {
            s += "$\(d.name) << EOD\n" + d.lines.joined(separator: "\n") + (d.lines.isEmpty ? "" : "\n") + "EOD\n"
        }
        s += """
        set encoding utf8
        set termoption noenhanced
        set title \(Gnuplot.quote(title + "\n" + subtitle))
        set xlabel \(Gnuplot.quote(xlabel)) offset 0,0.4
        set ylabel \(Gnuplot.quote(ylabel))
        set grid xtics ytics lc rgb "#dddddd"
        set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
        set datafile missing "?"
        set datafile separator whitespace

        """
        s += settings.joined(separator: "\n") + "\n"
        let plot = clauses.isEmpty
            ? "set label 1 \"no data\" at graph 0.5, graph 0.5 center\nset xrange [0:1]\nset yrange [0:1]\nplot NaN notitle"
            : "plot " + clauses.joined(separator: ", \\\n     ")
        s += "set terminal pngcairo size \(width),\(height) font \"DejaVu Sans,10\" noenhanced\n"
        s += "set output \"\(name).png\"\n" + plot + "\n"
        s += "set terminal svg size \(width),\(height) font \"DejaVu Sans,10\" noenhanced background rgb \"white\"\n"
        s += "set output \"\(name).svg\"\nreplot\nunset output\n"
        return s
    }
}

extension PlotScript {
    /// Adds a datablock (`lines`: "x y" rows) and the clause that draws it, columns 1:2, with
    /// `style` ("linespoints lc ... ps 0.6") and `title` (quoted here).
    mutating func addSeries(_ lines: [String], with style: String, title: String) {
        let name = "d\(data.count)"
        data.append((name, lines))
        clauses.append("$\(name) using 1:2 with \(style) title \(Gnuplot.quote(title))")
    }
}
