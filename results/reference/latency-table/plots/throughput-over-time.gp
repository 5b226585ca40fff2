# orbit-bench plot: throughput-over-time. Redraw with `gnuplot throughput-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0.1 139611.5
0.2 89860
0.3 95740
0.4 82190
0.5 89800
0.514 75552
EOD
$d1 << EOD
0.7 242498.7
0.8 202460
0.9 222050
1 175500
1.1 152800
1.2 158930
1.3 225150
1.4 233970
1.5 229780
1.577 220593.8
EOD
$d2 << EOD
0.1 138974.6
0.2 46090
0.3 51710
0.4 55830
0.5 115270
0.562 160770.6
EOD
$d3 << EOD
0.7 354441.1
0.8 231910
0.9 263730
1 222790
1.1 195750
1.2 201790
1.3 195620
1.4 124280
1.5 145440
1.6 178770
1.624 65887.8
EOD
$d4 << EOD
0.1 138666.9
0.2 107730
0.3 98130
0.4 93620
0.485 80404.1
EOD
$d5 << EOD
0.7 168675.1
0.8 152160
0.9 142130
1 136830
1.1 142560
1.2 105020
1.3 115020
1.4 129900
1.5 132250
1.6 143620
1.7 119350
1.8 119160
1.9 146440
2 153630
2.053 179541.4
EOD
$d6 << EOD
0.1 365781.2
0.151 275449.4
EOD
$d7 << EOD
0.2 619785
0.3 547010
0.4 500430
0.5 448660
0.591 484508.7
EOD
$d8 << EOD
0.1 104605.8
0.2 104730
0.3 99650
0.4 97010
0.492 103578
EOD
$d9 << EOD
0.6 220118.5
0.7 213800
0.8 207590
0.9 186870
1 203720
1.1 211420
1.2 207430
1.3 191770
1.4 156590
1.5 177100
1.6 174680
1.613 194374.4
EOD
set encoding utf8
set termoption noenhanced
set title "Throughput over time\nrun 20261123-141245-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
set xlabel "time since the load phase started (s)" offset 0,0.4
set ylabel "operations per second"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set yrange [0:*]
set format y "%.0f"
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "throughput-over-time.png"
plot $d0 using 1:2 with linespoints lc rgb "#1f77b4" dt 2 pt 1 lw 1.5 ps 0.6 title "cow (none) load phase", \
     $d1 using 1:2 with linespoints lc rgb "#1f77b4" dt 1 pt 2 lw 1.5 ps 0.6 title "cow (none) run phase", \
     $d2 using 1:2 with linespoints lc rgb "#2ca02c" dt 2 pt 1 lw 1.5 ps 0.6 title "lsm (none) load phase", \
     $d3 using 1:2 with linespoints lc rgb "#2ca02c" dt 1 pt 3 lw 1.5 ps 0.6 title "lsm (none) run phase", \
     $d4 using 1:2 with linespoints lc rgb "#d62728" dt 2 pt 1 lw 1.5 ps 0.6 title "rocksdb (none) load phase", \
     $d5 using 1:2 with linespoints lc rgb "#d62728" dt 1 pt 4 lw 1.5 ps 0.6 title "rocksdb (none) run phase", \
     $d6 using 1:2 with linespoints lc rgb "#7f7f7f" dt 2 pt 1 lw 1.5 ps 0.6 title "memory (none) load phase", \
     $d7 using 1:2 with linespoints lc rgb "#7f7f7f" dt 1 pt 5 lw 1.5 ps 0.6 title "memory (none) run phase", \
     $d8 using 1:2 with linespoints lc rgb "#9467bd" dt 2 pt 1 lw 1.5 ps 0.6 title "lmdb (none) load phase", \
     $d9 using 1:2 with linespoints lc rgb "#9467bd" dt 1 pt 6 lw 1.5 ps 0.6 title "lmdb (none) run phase"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "throughput-over-time.svg"
replot
unset output
