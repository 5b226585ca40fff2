# orbit-bench plot: throughput-over-time. Redraw with `gnuplot throughput-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0.25 11187
0.5 11444
0.75 14736
1 14984
1.25 9988
1.5 9996
1.75 8212
EOD
$d1 << EOD
2 32317.9
2.25 29416
2.5 13520
2.75 14752
3 10772
3.25 4392
3.5 6080
3.75 10440
4 20584
4.25 12724
4.5 14224
4.75 8120
EOD
$d2 << EOD
0.25 44245.6
0.5 15676
0.75 14356
0.981 7140.2
EOD
$d3 << EOD
1.25 41115.9
1.5 17132
1.75 10840
2 6968
2.25 23372
2.5 12244
2.75 33936
3 32320
EOD
$d4 << EOD
0.25 7041.8
0.5 11448
0.75 4840
1 4572
1.25 6824
1.5 5728
1.75 4704
2 7544
2.25 6740
2.5 4520
2.75 7884
3 5704
3.24 4558
EOD
$d5 << EOD
3.5 18046.1
3.75 2564
4 4160
4.25 3496
4.5 560
4.75 1648
5 4432
5.25 2888
5.5 3600
5.75 8900
6 5552
6.25 1428
6.5 4216
6.75 6692
7 6624
7.25 11460
7.5 6540
7.75 4688
8 2316
8.25 3468
8.5 2832
8.75 11076
9 19704
9.25 5776
9.5 4796
9.75 7240
10 12640
10.25 4
10.5 2888
EOD
$d6 << EOD
0.25 41017.9
0.5 35732
0.628 7060.3
EOD
$d7 << EOD
0.75 43592.7
1 45364
1.25 33584
1.5 36652
1.75 33976
EOD
$d8 << EOD
0.25 13151.7
0.5 6140
0.75 15308
1 6996
1.25 12796
1.5 5440
1.75 6888
2 10624
2.177 3919.5
EOD
$d9 << EOD
2.5 26249.1
2.75 14480
3 8736
3.25 7068
3.5 9792
3.75 4236
4 4772
4.25 25984
4.5 3932
4.75 2192
5 13460
5.25 8368
5.5 15356
5.75 11636
6 6080
6.25 7072
EOD
set encoding utf8
set termoption noenhanced
set title "Throughput over time\nrun 20261123-091240-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
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
